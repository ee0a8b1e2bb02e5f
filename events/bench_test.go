package events_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// BenchmarkAppend measures events.Append of one TaskAdded per call, each
// writer on its own user, against the baseline of a plain single-row INSERT
// of the same event-shaped row into an unpartitioned table without
// triggers. Both run in the same process against the same cluster; set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on.
func BenchmarkAppend(b *testing.B) {
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	if err := pgtest.CreatePlainEventsTable(db); err != nil {
		b.Fatal(err)
	}

	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("plain_insert/writers=%d", writers), func(b *testing.B) {
			pgtest.RunWriters(b, writers, func(user string, id int64) error {
				return pgtest.PlainInsert(db, user, id)
			})
		})
		b.Run(fmt.Sprintf("append/writers=%d", writers), func(b *testing.B) {
			pgtest.RunWriters(b, writers, func(user string, id int64) error {
				_, err := events.Append(context.Background(), db, events.AppendRequest{
					UserID: user, Stream: events.TaskStream(id), ExpectedVersion: events.NoStream,
					Events: []events.Event{events.TaskAdded{TaskID: id, Title: pgtest.BenchTitle}},
				})
				return err
			})
		})
	}
}

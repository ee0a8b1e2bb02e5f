package events_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

const benchTitle = "buy oat milk and two loaves of bread"

// BenchmarkAppend measures events.Append of one TaskAdded per call, each
// writer on its own user, against the baseline of a plain single-row INSERT
// of the same event-shaped row into an unpartitioned table without
// triggers. Both run in the same process against the same cluster; set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on.
func BenchmarkAppend(b *testing.B) {
	url := pgtest.NewDatabase(b, true)
	db := pgtest.Open(b, url)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	_, err := db.Exec(`CREATE TABLE plain_events (
		position bigserial PRIMARY KEY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
		event_id uuid NOT NULL, user_id text NOT NULL, stream_type text NOT NULL, stream_id bigint NOT NULL,
		stream_version integer NOT NULL, user_sequence bigint NOT NULL, event_type text NOT NULL,
		schema_version integer NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL,
		command_id text NOT NULL, command_index integer NOT NULL, occurred_at timestamptz NOT NULL,
		recorded_at timestamptz NOT NULL DEFAULT now(), previous_hash bytea, hash bytea NOT NULL)`)
	if err != nil {
		b.Fatal(err)
	}

	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("plain_insert/writers=%d", writers), func(b *testing.B) {
			runWriters(b, writers, func(user string, id int64) error {
				return plainInsert(db, user, id)
			})
		})
		b.Run(fmt.Sprintf("append/writers=%d", writers), func(b *testing.B) {
			runWriters(b, writers, func(user string, id int64) error {
				_, err := events.Append(context.Background(), db, events.AppendRequest{
					UserID: user, Stream: events.TaskStream(id), ExpectedVersion: events.NoStream,
					Events: []events.Event{events.TaskAdded{TaskID: id, Title: benchTitle}},
				})
				return err
			})
		})
	}
}

var benchIDs atomic.Int64

// runWriters spreads b.N writes over the given number of goroutines, each
// writing as its own user, and reports writes per second.
func runWriters(b *testing.B, writers int, write func(user string, id int64) error) {
	var next atomic.Int64
	errs := make(chan error, writers)
	b.ResetTimer()
	for w := range writers {
		go func() {
			user := fmt.Sprintf("bench-%s-%d", uuid.NewString()[:8], w)
			for next.Add(1) <= int64(b.N) {
				if err := write(user, benchIDs.Add(1)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func plainInsert(db *sql.DB, user string, id int64) error {
	payload := fmt.Sprintf(`{"task_id": %d, "title": %q, "description": ""}`, id, benchTitle)
	_, err := db.Exec(`INSERT INTO plain_events (event_id, user_id, stream_type, stream_id, stream_version,
		user_sequence, event_type, schema_version, payload, metadata, command_id, command_index, occurred_at, hash)
		VALUES ($1, $2, 'task', $3, 1, $3, 'TaskAdded', 1, $4::jsonb, $5, $6, 0, now(), sha256(convert_to($4::text, 'UTF8')))`,
		uuid.New(), user, id, payload, `{"command_id": "`+uuid.NewString()+`"}`, uuid.NewString())
	return err
}

package events_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/todolog/todolog/internal/bench"
	"github.com/todolog/todolog/internal/pgtest"
)

// BenchmarkAppend measures events.Append of one TaskAdded per call, each
// writer on its own user, against the baseline of a plain single-row INSERT
// of the same event-shaped row into an unpartitioned table without
// triggers. Both run in the same process against the same cluster; set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on. `todolog bench`
// measures the same pair at 1, 4 and 16 writers.
func BenchmarkAppend(b *testing.B) {
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	if err := bench.CreatePlainEvents(context.Background(), db); err != nil {
		b.Fatal(err)
	}

	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("plain_insert/writers=%d", writers), func(b *testing.B) {
			bench.RunBenchmark(b, b.N, writers, func(ctx context.Context, _ int, user string) error {
				return bench.PlainInsert(ctx, db, user)
			})
		})
		b.Run(fmt.Sprintf("append/writers=%d", writers), func(b *testing.B) {
			bench.RunBenchmark(b, b.N, writers, func(ctx context.Context, _ int, user string) error {
				return bench.AppendTask(ctx, db, user)
			})
		})
	}
}

package commands_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/bench"
	"github.com/todolog/todolog/internal/pgtest"
)

// BenchmarkWatermillAddTask measures AddTask round trips through one
// Processor and one Bus on watermill-sql. Two baselines run on the same
// database: Handler.Handle in process, and a plain single-row INSERT of an
// event-shaped row into an unpartitioned table without triggers. Each
// client adds tasks for a user of its own. The transport runs with
// DefaultPollInterval and with a 5 ms poll interval. Set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on. `todolog bench`
// compares the transport with watermill-sql's default publisher instead.
func BenchmarkWatermillAddTask(b *testing.B) {
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
	ctx := context.Background()
	if err := bench.CreatePlainEvents(ctx, db); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}

	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("plain_insert/clients=%d", clients), func(b *testing.B) {
			bench.RunBenchmark(b, b.N, clients, func(ctx context.Context, _ int, user string) error {
				return bench.PlainInsert(ctx, db, user)
			})
		})
		b.Run(fmt.Sprintf("handler/clients=%d", clients), func(b *testing.B) {
			client := commands.NewClient(handler)
			bench.RunBenchmark(b, b.N, clients, func(ctx context.Context, _ int, user string) error {
				_, err := client.AddTask(ctx, user, bench.Title, "")
				return err
			})
		})
		for _, poll := range []time.Duration{commands.DefaultPollInterval, 5 * time.Millisecond} {
			b.Run(fmt.Sprintf("watermill/poll=%s/clients=%d", poll, clients), func(b *testing.B) {
				transport, err := bench.StartCommandTransport(ctx, db, handler, fmt.Sprint(poll.Milliseconds()), poll, logger)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					if err := transport.Close(); err != nil {
						b.Error(err)
					}
				})
				bench.RunBenchmark(b, b.N, clients, func(ctx context.Context, _ int, user string) error {
					_, err := transport.Client.AddTask(ctx, user, bench.Title, "")
					return err
				})
			})
		}
	}
}

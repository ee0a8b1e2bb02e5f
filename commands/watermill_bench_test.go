package commands_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/pgtest"
)

const benchTitle = "buy oat milk and two loaves of bread"

// BenchmarkWatermillAddTask measures AddTask round trips through one
// Processor and one Bus on watermill-sql. Two baselines run on the same
// database: Handler.Handle in process, and a plain single-row INSERT of an
// event-shaped row into an unpartitioned table without triggers. Each
// client adds tasks for a user of its own. The transport runs with
// DefaultPollInterval and with a 5 ms poll interval. Set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on.
func BenchmarkWatermillAddTask(b *testing.B) {
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
	createPlainEvents(b, db)
	logger := slog.New(slog.DiscardHandler)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}

	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("plain_insert/clients=%d", clients), func(b *testing.B) {
			runClients(b, clients, func(user string) error { return plainInsert(db, user) })
		})
		b.Run(fmt.Sprintf("handler/clients=%d", clients), func(b *testing.B) {
			client := commands.NewClient(handler)
			runClients(b, clients, func(user string) error {
				_, err := client.AddTask(context.Background(), user, benchTitle, "")
				return err
			})
		})
		for _, poll := range []time.Duration{commands.DefaultPollInterval, 5 * time.Millisecond} {
			b.Run(fmt.Sprintf("watermill/poll=%s/clients=%d", poll, clients), func(b *testing.B) {
				client := benchTransport(b, db, handler, poll, logger)
				runClients(b, clients, func(user string) error {
					_, err := client.AddTask(context.Background(), user, benchTitle, "")
					return err
				})
			})
		}
	}
}

// benchTransport starts a Processor and a Bus on topics of their own for
// the poll interval, stopped when the benchmark round ends, and returns a
// Client on the Bus.
func benchTransport(b *testing.B, db *sql.DB, handler *commands.Handler, poll time.Duration,
	logger *slog.Logger) *commands.Client {
	topics := topics{commands: fmt.Sprintf("bench_commands_%d", poll.Milliseconds()),
		replies: fmt.Sprintf("bench_replies_%d", poll.Milliseconds())}
	cfg := commands.PostgreSQLConfig{DB: db, Logger: logger, PollInterval: poll, AutoInitializeSchema: true}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}

	commandPublisher, err := commands.NewPostgreSQLCommandPublisher(cfg)
	must(err)
	replySubscriber, err := commands.NewPostgreSQLReplySubscriber(cfg)
	must(err)
	bus, err := commands.NewBus(commands.BusConfig{Publisher: commandPublisher, Subscriber: replySubscriber,
		Logger: logger, Topic: topics.commands, ReplyTopic: topics.replies})
	must(err)

	commandSubscriber, err := commands.NewPostgreSQLCommandSubscriber(cfg)
	must(err)
	replyPublisher, err := commands.NewPostgreSQLReplyPublisher(cfg)
	must(err)
	processor, err := commands.NewProcessor(commands.ProcessorConfig{Subscriber: commandSubscriber,
		Publisher: replyPublisher, Handler: handler, Logger: logger, Topic: topics.commands, ReplyTopic: topics.replies})
	must(err)
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NewSlogLogger(logger))
	must(err)
	processor.AddToRouter(router)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- router.Run(ctx) }()
	<-router.Running()

	b.Cleanup(func() {
		cancel()
		must(<-stopped)
		must(bus.Close())
		must(commandPublisher.Close())
		must(replyPublisher.Close())
	})
	return commands.NewClient(bus)
}

// runClients spreads b.N calls of send over the given number of
// goroutines, each sending as its own user, and reports commands per
// second and the median and 99th percentile latency of one call.
func runClients(b *testing.B, clients int, send func(user string) error) {
	var mu sync.Mutex
	var latencies []time.Duration
	var failure error
	var wg sync.WaitGroup
	remaining := make(chan struct{}, b.N)
	for range b.N {
		remaining <- struct{}{}
	}
	close(remaining)

	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			user := "bench-" + uuid.NewString()[:13]
			var own []time.Duration
			for range remaining {
				started := time.Now()
				if err := send(user); err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
					return
				}
				own = append(own, time.Since(started))
			}
			mu.Lock()
			latencies = append(latencies, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	if failure != nil {
		b.Fatal(failure)
	}

	slices.Sort(latencies)
	percentile := func(p float64) float64 {
		index := min(int(p*float64(len(latencies))), len(latencies)-1)
		return float64(latencies[index]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
	b.ReportMetric(percentile(0.50), "p50_ms")
	b.ReportMetric(percentile(0.99), "p99_ms")
}

// createPlainEvents creates the baseline table: the columns of an event
// row, with none of the log's partitions, triggers or unique keys.
func createPlainEvents(b *testing.B, db *sql.DB) {
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
}

var plainIDs atomic.Int64

// plainInsert inserts one TaskAdded-shaped row for user.
func plainInsert(db *sql.DB, user string) error {
	id := plainIDs.Add(1)
	payload := fmt.Sprintf(`{"task_id": %d, "title": %q, "description": ""}`, id, benchTitle)
	_, err := db.Exec(`INSERT INTO plain_events (event_id, user_id, stream_type, stream_id, stream_version,
		user_sequence, event_type, schema_version, payload, metadata, command_id, command_index, occurred_at, hash)
		VALUES ($1, $2, 'task', $3, 1, $3, 'TaskAdded', 1, $4::jsonb, $5, $6, 0, now(), sha256(convert_to($4::text, 'UTF8')))`,
		uuid.New(), user, id, payload, `{"command_id": "`+uuid.NewString()+`"}`, uuid.NewString())
	return err
}

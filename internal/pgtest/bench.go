package pgtest

import (
	"database/sql"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchTitle is the task title every write benchmark stores.
const BenchTitle = "buy oat milk and two loaves of bread"

// CreatePlainEventsTable creates plain_events, a table with the columns of
// the event log but unpartitioned, with one primary key and no triggers: the
// baseline that write benchmarks compare against.
func CreatePlainEventsTable(db *sql.DB) error {
	_, err := db.Exec(`CREATE TABLE IF NOT EXISTS plain_events (
		position bigserial PRIMARY KEY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
		event_id uuid NOT NULL, user_id text NOT NULL, stream_type text NOT NULL, stream_id bigint NOT NULL,
		stream_version integer NOT NULL, user_sequence bigint NOT NULL, event_type text NOT NULL,
		schema_version integer NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL,
		command_id text NOT NULL, command_index integer NOT NULL, occurred_at timestamptz NOT NULL,
		recorded_at timestamptz NOT NULL DEFAULT now(), previous_hash bytea, hash bytea NOT NULL)`)
	return err
}

// PlainInsert writes one TaskAdded-shaped row into plain_events with a
// single-row INSERT.
func PlainInsert(db *sql.DB, user string, id int64) error {
	payload := fmt.Sprintf(`{"task_id": %d, "title": %q, "description": ""}`, id, BenchTitle)
	_, err := db.Exec(`INSERT INTO plain_events (event_id, user_id, stream_type, stream_id, stream_version,
		user_sequence, event_type, schema_version, payload, metadata, command_id, command_index, occurred_at, hash)
		VALUES ($1, $2, 'task', $3, 1, $3, 'TaskAdded', 1, $4::jsonb, $5, $6, 0, now(), sha256(convert_to($4::text, 'UTF8')))`,
		uuid.New(), user, id, payload, `{"command_id": "`+uuid.NewString()+`"}`, uuid.NewString())
	return err
}

var benchIDs atomic.Int64

// RunWriters spreads b.N calls of write over the given number of
// goroutines, each acting as its own user with fresh ids, and reports calls
// per second and the median and 99th percentile latency in milliseconds.
func RunWriters(b *testing.B, writers int, write func(user string, id int64) error) {
	var next atomic.Int64
	latencies := make([][]time.Duration, writers)
	errs := make(chan error, writers)
	b.ResetTimer()
	for w := range writers {
		go func() {
			user := fmt.Sprintf("bench-%s-%d", uuid.NewString()[:8], w)
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if err := write(user, benchIDs.Add(1)); err != nil {
					errs <- err
					return
				}
				latencies[w] = append(latencies[w], time.Since(start))
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

	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

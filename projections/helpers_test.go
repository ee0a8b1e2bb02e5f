package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

// lastID hands out task, conversation and message ids, unique within the
// test binary as commands make them unique within a database.
var lastID atomic.Int64

func nextID() int64 { return lastID.Add(1) }

// newUser returns a user id no other test uses.
func newUser() string { return "u-" + uuid.NewString()[:13] }

// newDatabase returns a fresh migrated database, so a projector in the test
// reads only the test's events.
func newDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	url := pgtest.NewDatabase(t, true)
	return url, pgtest.Open(t, url)
}

// fastConfig polls often and retries quickly, so tests wait little.
func fastConfig(log *testLog) projections.Config {
	return projections.Config{
		Logger:        log.Logger(),
		PollInterval:  20 * time.Millisecond,
		RetryInterval: 50 * time.Millisecond,
		BatchSize:     10,
		AttemptDelay:  10 * time.Millisecond,
	}
}

// runningProjector is a Projector started by startProjector.
type runningProjector struct {
	*projections.Projector
	stopOnce sync.Once
	stop     func()
}

// Stop closes the projector and waits for Run to return. It runs at cleanup
// too; later calls do nothing.
func (p *runningProjector) Stop() { p.stopOnce.Do(p.stop) }

// startProjector runs a Projector on db until Stop or the test's cleanup.
func startProjector(t *testing.T, db *sql.DB, cfg projections.Config) *runningProjector {
	t.Helper()
	projector, err := projections.New(db, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	select {
	case <-projector.Running():
	case err := <-done:
		cancel()
		t.Fatalf("projector stopped before running: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("projector did not start within 10s")
	}

	running := &runningProjector{Projector: projector}
	running.stop = func() {
		closeErr := projector.Close()
		cancel()
		runErr := <-done
		if err := errors.Join(closeErr, runErr); err != nil {
			t.Errorf("stopping projector: %v", err)
		}
	}
	t.Cleanup(running.Stop)
	return running
}

// appendEvents appends evs to one stream of user and fails the test on error.
func appendEvents(t *testing.T, db events.DBTX, user string, stream events.Stream, evs ...events.Event) events.AppendResult {
	t.Helper()
	result, err := events.Append(context.Background(), db, events.AppendRequest{
		UserID: user, Stream: stream, ExpectedVersion: events.AnyVersion, Events: evs,
	})
	require.NoError(t, err)
	return result
}

// addTask appends a new task and returns its id and the append's result.
func addTask(t *testing.T, db events.DBTX, user, title string) (int64, events.AppendResult) {
	t.Helper()
	id := nextID()
	return id, appendEvents(t, db, user, events.TaskStream(id), events.TaskAdded{TaskID: id, Title: title})
}

// cursorOf returns the place in the log of result's last event.
func cursorOf(result events.AppendResult) events.Cursor {
	return events.Cursor{TransactionID: result.TransactionID, Position: result.LastPosition()}
}

// waitFor waits for the projections to apply result's events.
func waitFor(t *testing.T, db *sql.DB, result events.AppendResult) {
	t.Helper()
	require.NoError(t, projections.WaitFor(context.Background(), db, result.UserID, cursorOf(result), 20*time.Second))
}

// applyLog projects the whole log of source into the read tables of target
// with projections.Apply, in one transaction, as a rebuild would.
func applyLog(t *testing.T, source, target *sql.DB) {
	t.Helper()
	ctx := context.Background()
	// ReadAll stops below the oldest open transaction of the whole cluster,
	// which other tests' transactions can hold back for a while.
	require.Eventually(t, func() bool {
		var visible bool
		err := source.QueryRow(`SELECT coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), true)
			FROM events`).Scan(&visible)
		require.NoError(t, err)
		return visible
	}, 20*time.Second, 10*time.Millisecond)
	tx, err := target.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	for r, err := range events.ReadAll(ctx, source, events.Cursor{}) {
		require.NoError(t, err)
		for _, name := range projections.Names() {
			require.NoError(t, projections.Apply(ctx, tx, name, r))
		}
	}
	require.NoError(t, tx.Commit())
}

// tableRows returns every row of table as JSON text, in id order.
func tableRows(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT to_jsonb(r)::text FROM ` + table + ` r ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var list []string
	for rows.Next() {
		var row string
		require.NoError(t, rows.Scan(&row))
		list = append(list, row)
	}
	require.NoError(t, rows.Err())
	return list
}

package commands_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/pgtest"
)

// logBuffer collects text log lines from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines that contain every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var matched []string
	for _, line := range strings.Split(b.buf.String(), "\n") {
		all := line != ""
		for _, part := range parts {
			all = all && strings.Contains(line, part)
		}
		if all {
			matched = append(matched, line)
		}
	}
	return matched
}

// quickRetry keeps the retries of these tests short.
var quickRetry = commands.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// newFaultHandler returns a Handler whose database connections lose the
// replies to commits on request, with lostCommitErr, and its log.
func newFaultHandler(t *testing.T, lostCommitErr error) (*commands.Handler, *faultConnector, *logBuffer) {
	t.Helper()
	db, faults := openFaultDB(t, lostCommitErr)
	logs := &logBuffer{}
	handler, err := commands.NewHandler(commands.Config{
		DB:     db,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry:  quickRetry,
	})
	require.NoError(t, err)
	return handler, faults, logs
}

func countCommandEvents(t *testing.T, db *sql.DB, userID, commandID string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events WHERE user_id = $1 AND command_id = $2`,
		userID, commandID).Scan(&n))
	return n
}

// A command without a command id whose COMMIT took effect but whose reply
// was lost is not written again: the rerun shares the id Handle generated,
// finds the committed append and returns its result. Complete and delete
// show why the look-up matters, because deciding them again against the
// committed state would return "nothing changed" or "not found".
//
// A reset connection reaches the Handler, which runs the command again.
// After driver.ErrBadConn database/sql may send the statement again by
// itself, which the command id makes just as safe.
func TestHandleAfterAmbiguousCommitWritesOnce(t *testing.T) {
	t.Parallel()
	for name, lostCommitErr := range map[string]error{"connection reset": errConnectionReset, "bad connection": driver.ErrBadConn} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			handler, faults, logs := newFaultHandler(t, lostCommitErr)
			superuser := pgtest.Open(t, pgtest.URL())
			client := commands.NewClient(handler)
			ctx := context.Background()
			user := newUser()

			faults.lostCommits.Store(1)
			added, err := client.AddTask(ctx, user, "milk", "")
			require.NoError(t, err)
			require.Zero(t, faults.lostCommits.Load(), "the fault was used")
			require.True(t, added.Changed)
			require.False(t, added.Duplicate, "the command was written once, by this call")
			require.Empty(t, added.Note)
			require.Len(t, added.Positions, 1)
			require.Equal(t, 1, countCommandEvents(t, superuser, user, added.CommandID))
			require.Equal(t, 1, countEvents(t, superuser, user), "no second task was added")
			var taskID int64
			require.NoError(t, superuser.QueryRow(`SELECT stream_id FROM events WHERE position = $1`, added.Positions[0]).Scan(&taskID))
			require.Equal(t, taskID, added.TaskID)

			faults.lostCommits.Store(1)
			completed, err := client.CompleteTask(ctx, user, added.TaskID)
			require.NoError(t, err)
			require.Zero(t, faults.lostCommits.Load())
			require.True(t, completed.Changed, "the first attempt's completion is the result")
			require.False(t, completed.Duplicate)
			require.Empty(t, completed.Note)
			require.Equal(t, 1, countCommandEvents(t, superuser, user, completed.CommandID))

			faults.lostCommits.Store(1)
			deleted, err := client.DeleteTask(ctx, user, added.TaskID)
			require.NoError(t, err, "a rerun must not report the deleted task as not found")
			require.Zero(t, faults.lostCommits.Load())
			require.True(t, deleted.Changed)
			require.Equal(t, 1, countCommandEvents(t, superuser, user, deleted.CommandID))
			require.Equal(t, 3, countEvents(t, superuser, user))

			if lostCommitErr != errConnectionReset {
				return
			}
			retries := logs.lines("level=WARN", `msg="retrying after a transient database error"`, "user_id="+user)
			require.Len(t, retries, 3, "one line per retry")
			for _, line := range retries {
				require.Contains(t, line, "command_id=")
				require.Contains(t, line, "attempt=1")
				require.Contains(t, line, "delay=")
				require.Contains(t, line, `error="`)
			}
		})
	}
}

// With a caller's key the rerun after an ambiguous COMMIT returns the
// result as written by this call, and sending the key again later returns
// it as a duplicate, as before.
func TestHandleKeyedAfterAmbiguousCommit(t *testing.T) {
	t.Parallel()
	handler, faults, _ := newFaultHandler(t, errConnectionReset)
	superuser := pgtest.Open(t, pgtest.URL())
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	faults.lostCommits.Store(1)
	first, err := client.AppendMessage(ctx, user, 0, "user", "add milk", commands.WithCommandID("turn-1"))
	require.NoError(t, err)
	require.Zero(t, faults.lostCommits.Load())
	require.False(t, first.Duplicate)
	require.Positive(t, first.ConversationID)
	require.Positive(t, first.MessageID)

	again, err := client.AppendMessage(ctx, user, 0, "user", "add milk", commands.WithCommandID("turn-1"))
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.ConversationID, again.ConversationID)
	require.Equal(t, first.MessageID, again.MessageID)
	require.Equal(t, first.Positions, again.Positions)
	require.Equal(t, 2, countCommandEvents(t, superuser, user, "turn-1"), "ConversationStarted and MessageAppended, once each")
}

func TestHandleReturnsOtherErrorsWithoutRetry(t *testing.T) {
	t.Parallel()
	handler, _, logs := newFaultHandler(t, errConnectionReset)
	_, err := commands.NewClient(handler).CompleteTask(context.Background(), newUser(), 424242)
	require.ErrorIs(t, err, commands.ErrNotFound)
	require.Empty(t, logs.lines("retrying"))
}

func TestHandleGivesUpAsUnavailable(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	handler, err := commands.NewHandler(commands.Config{
		DB:     pgtest.Open(t, closedPortURL(t)),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Retry:  quickRetry,
	})
	require.NoError(t, err)
	user := newUser()

	_, err = commands.NewClient(handler).AddTask(context.Background(), user, "milk", "", commands.WithCommandID("k-1"))
	require.ErrorIs(t, err, commands.ErrUnavailable)
	require.True(t, database.IsTransient(err), "the cause stays in the chain: %v", err)
	require.ErrorContains(t, err, "giving up after 4 attempts")
	retries := logs.lines("level=WARN", "retrying after a transient database error", "user_id="+user, "command_id=k-1")
	require.Len(t, retries, quickRetry.MaxAttempts-1)
}

func TestHandlerConfigRejectsBadRetryPolicy(t *testing.T) {
	_, err := commands.NewHandler(commands.Config{DB: &sql.DB{}, Retry: commands.RetryPolicy{MaxAttempts: -1}})
	require.ErrorContains(t, err, "Config.Retry")
}

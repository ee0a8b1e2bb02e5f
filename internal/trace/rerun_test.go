package trace_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/trace"
)

// crashingDispatcher passes commands to a Handler until the limit-th, which
// it hands on and then fails as if the process died before the reply
// arrived, and fails every later one unsent.
type crashingDispatcher struct {
	handler *commands.Handler
	limit   int64
	sent    atomic.Int64
}

var errCrashed = errors.New("simulated crash")

func (d *crashingDispatcher) Handle(ctx context.Context, cmd commands.Command) (commands.Result, error) {
	n := d.sent.Add(1)
	if n > d.limit {
		return commands.Result{}, errCrashed
	}
	result, err := d.handler.Handle(ctx, cmd)
	if n == d.limit {
		return commands.Result{}, errCrashed
	}
	return result, err
}

func countEvents(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	return n
}

// A replay that dies part way, even right after a command was written but
// before its reply arrived, is finished by running it again with the same
// run id. The commands written before come back as duplicates with their
// first ids, and the read tables end as the trace describes.
func TestReplayResumesAfterCrash(t *testing.T) {
	t.Parallel()
	logger := testLogger(t)
	db := openModelDatabase(t)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	require.NoError(t, err)
	generated := trace.Generate(trace.GenerateConfig{Users: 6, Seed: 3})
	total := generated.Commands()
	cfg := trace.Config{RunID: "crash", UserPrefix: "resume.", Concurrency: 3, Logger: logger}

	crashing := &crashingDispatcher{handler: handler, limit: int64(total / 2)}
	cfg.Dispatcher = crashing
	report, err := trace.Replay(context.Background(), cfg, generated)
	require.ErrorIs(t, err, errCrashed)
	require.Less(t, report.Commands, total)

	cfg.Dispatcher = handler
	report, err = trace.Replay(context.Background(), cfg, generated)
	require.NoError(t, err)
	require.Equal(t, total, report.Commands)
	require.Equal(t, len(generated.Lines), report.Lines)
	require.Positive(t, report.Duplicates)
	require.Less(t, report.Duplicates, total)
	written := countEvents(t, db)

	report, err = trace.Replay(context.Background(), cfg, generated)
	require.NoError(t, err)
	require.Equal(t, total, report.Duplicates, "a third run finds every command written")
	require.Equal(t, written, countEvents(t, db))

	startProjector(t, db, logger)
	waitForProjections(t, db, report.Tokens)
	var file bytes.Buffer
	require.NoError(t, generated.Write(&file))
	requireReadTablesMatch(t, db, buildModel(t, &file), "resume.")
}

// noOpTrace has calls that change nothing: an update to the current
// description and a second complete. The task is deleted later, so a rerun
// that decided those calls again would fail with not found.
const noOpTrace = `{"seq": 1, "at": "2026-03-01T09:00:00Z", "user": "user-0001", "conversation": "c-0001-01", "role": "user", "content": "add milk, 2 litres"}
{"seq": 2, "at": "2026-03-01T09:00:01Z", "user": "user-0001", "conversation": "c-0001-01", "role": "assistant", "content": "Added.", "tool_calls": [{"name": "add_task", "arguments": {"task": "t-0001-0001", "title": "milk", "description": "2 litres"}}]}
{"seq": 3, "at": "2026-03-01T09:00:05Z", "user": "user-0001", "conversation": "c-0001-01", "role": "user", "content": "milk: 2 litres, and I bought it"}
{"seq": 4, "at": "2026-03-01T09:00:06Z", "user": "user-0001", "conversation": "c-0001-01", "role": "assistant", "content": "Done.", "tool_calls": [{"name": "update_task", "arguments": {"task": "t-0001-0001", "description": "2 litres"}}, {"name": "complete_task", "arguments": {"task": "t-0001-0001"}}, {"name": "complete_task", "arguments": {"task": "t-0001-0001"}}]}
{"seq": 5, "at": "2026-03-01T09:00:09Z", "user": "user-0001", "conversation": "c-0001-01", "role": "user", "content": "remove milk"}
{"seq": 6, "at": "2026-03-01T09:00:10Z", "user": "user-0001", "conversation": "c-0001-01", "role": "assistant", "content": "Removed.", "tool_calls": [{"name": "delete_task", "arguments": {"task": "t-0001-0001"}}]}
`

func TestReplayRerunSkipsCallsThatChangedNothing(t *testing.T) {
	t.Parallel()
	logger := testLogger(t)
	db := openModelDatabase(t)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	require.NoError(t, err)
	parsed, err := trace.Read(strings.NewReader(noOpTrace))
	require.NoError(t, err)
	cfg := trace.Config{Dispatcher: handler, RunID: "noop", Logger: logger}

	first, err := trace.Replay(context.Background(), cfg, parsed)
	require.NoError(t, err)
	require.Equal(t, 11, first.Commands)
	require.Equal(t, 2, first.Unchanged)
	require.Zero(t, first.Duplicates)
	written := countEvents(t, db)

	again, err := trace.Replay(context.Background(), cfg, parsed)
	require.NoError(t, err)
	require.Equal(t, 11, again.Commands)
	require.Equal(t, 9, again.Duplicates)
	require.Equal(t, 2, again.Unchanged)
	require.Equal(t, written, countEvents(t, db))
}

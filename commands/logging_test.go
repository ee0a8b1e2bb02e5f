package commands_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/pgtest"
)

// recordingHandler keeps every log record it is given.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func TestHandlerLogsCommandsAtDebugOnly(t *testing.T) {
	t.Parallel()
	recorder := &recordingHandler{}
	handler, err := commands.NewHandler(commands.Config{DB: pgtest.Open(t, pgtest.URL()), Logger: slog.New(recorder)})
	require.NoError(t, err)
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	task, err := client.AddTask(ctx, user, "milk", "", commands.WithCommandID("log-add"))
	require.NoError(t, err)
	_, err = client.CompleteTask(ctx, user, task.TaskID+1_000_000)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.AddTask(ctx, user, " ", "", commands.WithCommandID("log-invalid"))
	require.ErrorIs(t, err, commands.ErrInvalid)

	require.Len(t, recorder.records, 3, "one record per command")
	for _, record := range recorder.records {
		require.Equal(t, slog.LevelDebug, record.Level, record.Message)
		attrs := map[string]string{}
		record.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		require.Equal(t, user, attrs["user_id"], record.Message)
		require.NotEmpty(t, attrs["command_id"], record.Message)
	}
	require.Equal(t, "command handled", recorder.records[0].Message)
	require.Equal(t, "command failed", recorder.records[1].Message)
	require.Equal(t, "command rejected as invalid", recorder.records[2].Message)
}

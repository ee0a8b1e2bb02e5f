package commands_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/migrations"
)

func TestIDSequencesContinueAfterDownAndUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, url)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: testLogger(t)})
	require.NoError(t, err)
	client := commands.NewClient(handler)
	user := newUser()

	task, err := client.AddTask(ctx, user, "before", "")
	require.NoError(t, err)
	message, err := client.AppendMessage(ctx, user, 0, commands.RoleUser, "before")
	require.NoError(t, err)

	migrator, err := migrations.New(ctx, migrations.Config{URL: pgtest.DirectURL(url), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { migrator.Close() })
	require.NoError(t, migrator.Goto(ctx, 3))
	var sequenceExists bool
	require.NoError(t, db.QueryRow(`SELECT to_regclass('task_id_seq') IS NOT NULL`).Scan(&sequenceExists))
	require.False(t, sequenceExists, "version 3 has no id sequences")
	require.Equal(t, 3, countEvents(t, db, user), "going down keeps the events")
	require.NoError(t, migrator.Up(ctx))

	// A repeated id of the same user would conflict with its stream and be
	// retried with the next id, so only another user shows whether the
	// sequences continue above the old ids.
	other := newUser()
	nextTask, err := client.AddTask(ctx, other, "after", "")
	require.NoError(t, err)
	require.Greater(t, nextTask.TaskID, task.TaskID)
	nextMessage, err := client.AppendMessage(ctx, other, 0, commands.RoleUser, "after")
	require.NoError(t, err)
	require.Greater(t, nextMessage.ConversationID, message.ConversationID)
	require.Greater(t, nextMessage.MessageID, message.MessageID)
}

package commands_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/pgtest"
)

// requireUntouched checks that db's log holds no events and that no id was
// drawn from the sequences.
func requireUntouched(t *testing.T, db *sql.DB) {
	t.Helper()
	var count int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&count))
	require.Zero(t, count, "events in the log")
	for _, sequence := range []string{"task_id_seq", "conversation_id_seq", "message_id_seq"} {
		var called bool
		require.NoError(t, db.QueryRow(`SELECT is_called FROM `+sequence).Scan(&called))
		require.False(t, called, "%s handed out an id", sequence)
	}
}

// newIsolatedHandler returns a Handler on a database of its own, so the
// test can check that nothing at all was written.
func newIsolatedHandler(t *testing.T) (*commands.Handler, *sql.DB) {
	t.Helper()
	db := pgtest.Open(t, pgtest.NewDatabase(t, true))
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: testLogger(t)})
	require.NoError(t, err)
	return handler, db
}

func TestHandleRejectsInvalidInputWithoutWriting(t *testing.T) {
	t.Parallel()
	handler, db := newIsolatedHandler(t)
	ctx := context.Background()

	for _, tc := range invalidCommands() {
		t.Run(tc.name, func(t *testing.T) {
			result, err := handler.Handle(ctx, tc.cmd)
			require.ErrorIs(t, err, commands.ErrInvalid)
			problems := commands.ValidationErrors(err)
			require.Len(t, problems, 1, "problems: %v", err)
			require.Equal(t, tc.field, problems[0].Field)
			require.Equal(t, tc.rule, problems[0].Rule)
			require.Zero(t, result)
			requireUntouched(t, db)
		})
	}
}

func TestHandleUnknownIDsWithoutWriting(t *testing.T) {
	t.Parallel()
	handler, db := newIsolatedHandler(t)
	ctx := context.Background()
	user := newUser()

	cases := map[string]commands.Command{
		"update":         commands.UpdateTask{Header: commands.Header{UserID: user}, TaskID: 41, Title: ptr("a")},
		"complete":       commands.CompleteTask{Header: commands.Header{UserID: user}, TaskID: 41},
		"reopen":         commands.ReopenTask{Header: commands.Header{UserID: user}, TaskID: 41},
		"delete":         commands.DeleteTask{Header: commands.Header{UserID: user}, TaskID: 41},
		"append message": commands.AppendMessage{Header: commands.Header{UserID: user}, ConversationID: 41, Role: "user", Content: "hi"},
		"complete with expected version": commands.CompleteTask{
			Header: commands.Header{UserID: user, ExpectedVersion: ptr(3)}, TaskID: 41,
		},
	}
	for name, cmd := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := handler.Handle(ctx, cmd)
			require.ErrorIs(t, err, commands.ErrNotFound)
			require.NotErrorIs(t, err, commands.ErrInvalid)
			requireUntouched(t, db)
		})
	}
}

func TestHandleRejectsForeignCommandTypes(t *testing.T) {
	t.Parallel()
	handler, db := newIsolatedHandler(t)
	ctx := context.Background()

	for name, cmd := range map[string]commands.Command{
		"nil":             nil,
		"nil pointer":     (*commands.AddTask)(nil),
		"type of another": foreignCommand{commands.AddTask{Header: header(), Title: "x"}},
	} {
		_, err := handler.Handle(ctx, cmd)
		require.ErrorIs(t, err, commands.ErrInvalid, name)
		problems := commands.ValidationErrors(err)
		require.Len(t, problems, 1, name)
		require.Equal(t, commands.RuleUnknownCommand, problems[0].Rule, name)
	}
	requireUntouched(t, db)
}

// foreignCommand implements Command by embedding AddTask, but is not one of
// the package's types.
type foreignCommand struct{ commands.AddTask }

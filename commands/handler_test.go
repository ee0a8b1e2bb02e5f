package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
)

func TestNewHandlerReportsEveryConfigProblem(t *testing.T) {
	t.Parallel()
	_, err := commands.NewHandler(commands.Config{MaxConflictRetries: -1})
	require.ErrorContains(t, err, "Config.DB is required")
	require.ErrorContains(t, err, "Config.MaxConflictRetries must be 0")
}

func TestAddTaskReturnsIDAndToken(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	ctx := context.Background()
	user := newUser()

	result, err := handler.Handle(ctx, commands.AddTask{Header: commands.Header{UserID: user}, Title: "  buy milk  ", Description: "oat"})
	require.NoError(t, err)
	require.Positive(t, result.TaskID)
	require.Equal(t, 1, result.StreamVersion)
	require.Len(t, result.Positions, 1)
	require.True(t, result.Changed)
	require.False(t, result.Duplicate)
	require.NotEmpty(t, result.CommandID, "a command id is generated when absent")

	records := readStream(t, db, user, events.TaskStream(result.TaskID))
	require.Len(t, records, 1)
	event, err := records[0].Decode()
	require.NoError(t, err)
	require.Equal(t, events.TaskAdded{TaskID: result.TaskID, Title: "buy milk", Description: "oat"}, event)
	require.Equal(t, result.CommandID, records[0].CommandID)
	require.Equal(t, result.Positions[0], records[0].Position)

	cursor, err := commands.ParseToken(result.Token)
	require.NoError(t, err)
	require.Equal(t, events.CursorOf(records[0]), cursor)
}

func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	added, err := client.AddTask(ctx, user, "milk", "")
	require.NoError(t, err)
	id := added.TaskID

	updated, err := client.UpdateTask(ctx, user, id, ptr("oat milk"), ptr("2 l"))
	require.NoError(t, err)
	require.True(t, updated.Changed)
	require.Equal(t, 2, updated.StreamVersion)

	completed, err := client.CompleteTask(ctx, user, id)
	require.NoError(t, err)
	require.True(t, completed.Changed)
	require.Equal(t, 3, completed.StreamVersion)

	again, err := client.CompleteTask(ctx, user, id)
	require.NoError(t, err)
	require.False(t, again.Changed)
	require.Equal(t, "task "+itoa(id)+" is already completed, so nothing changed", again.Note)
	require.Equal(t, 3, again.StreamVersion)
	require.Empty(t, again.Positions)
	require.Equal(t, id, again.TaskID)
	require.Equal(t, completed.Token, again.Token, "an unchanged result points at the stream's last event")

	reopened, err := client.ReopenTask(ctx, user, id)
	require.NoError(t, err)
	require.True(t, reopened.Changed)

	reopenedAgain, err := client.ReopenTask(ctx, user, id)
	require.NoError(t, err)
	require.False(t, reopenedAgain.Changed)
	require.Contains(t, reopenedAgain.Note, "already open")

	sameValues, err := client.UpdateTask(ctx, user, id, ptr(" oat milk "), ptr("2 l"))
	require.NoError(t, err)
	require.False(t, sameValues.Changed)
	require.Contains(t, sameValues.Note, "nothing changed")

	deleted, err := client.DeleteTask(ctx, user, id)
	require.NoError(t, err)
	require.Equal(t, 5, deleted.StreamVersion)

	_, err = client.UpdateTask(ctx, user, id, ptr("bread"), nil)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.CompleteTask(ctx, user, id)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.DeleteTask(ctx, user, id)
	require.ErrorIs(t, err, commands.ErrNotFound)

	require.Equal(t, 5, countEvents(t, db, user))
}

func TestOtherUsersTaskIsNotFound(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	client := commands.NewClient(handler)
	ctx := context.Background()
	alice, bob := newUser(), newUser()

	task, err := client.AddTask(ctx, alice, "alice's task", "")
	require.NoError(t, err)
	conversation, err := client.StartConversation(ctx, alice)
	require.NoError(t, err)

	_, err = client.CompleteTask(ctx, bob, task.TaskID)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.UpdateTask(ctx, bob, task.TaskID, ptr("mine now"), nil)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.DeleteTask(ctx, bob, task.TaskID)
	require.ErrorIs(t, err, commands.ErrNotFound)
	_, err = client.AppendMessage(ctx, bob, conversation.ConversationID, commands.RoleUser, "hello")
	require.ErrorIs(t, err, commands.ErrNotFound)

	require.Equal(t, 2, countEvents(t, db, alice))
	require.Zero(t, countEvents(t, db, bob))
}

func TestAppendMessageStartsConversation(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	first, err := client.AppendMessage(ctx, user, 0, commands.RoleUser, "add milk to my list")
	require.NoError(t, err)
	require.Positive(t, first.ConversationID)
	require.Positive(t, first.MessageID)
	require.Equal(t, 2, first.StreamVersion)
	require.Len(t, first.Positions, 2)

	records := readStream(t, db, user, events.ConversationStream(first.ConversationID))
	require.Len(t, records, 2)
	require.Equal(t, events.TypeConversationStarted, records[0].Type)
	require.Equal(t, events.TypeMessageAppended, records[1].Type)
	require.Equal(t, first.CommandID, records[0].CommandID)
	require.Equal(t, first.CommandID, records[1].CommandID)

	second, err := client.AppendMessage(ctx, user, first.ConversationID, commands.RoleAssistant, "Added milk.")
	require.NoError(t, err)
	require.Equal(t, first.ConversationID, second.ConversationID)
	require.Equal(t, 3, second.StreamVersion)
	require.Greater(t, second.MessageID, first.MessageID)
}

func TestClientOptionsReachTheEvents(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	started, err := client.StartConversation(ctx, user,
		commands.WithCommandID("turn-1/start"),
		commands.WithExpectedVersion(0),
		commands.WithCorrelationID("request-7"),
		commands.WithCausationID("message-3"),
		commands.WithActor("chat-backend"))
	require.NoError(t, err)
	require.Equal(t, "turn-1/start", started.CommandID)

	records := readStream(t, db, user, events.ConversationStream(started.ConversationID))
	require.Len(t, records, 1)
	require.Equal(t, events.Metadata{
		CommandID:     "turn-1/start",
		CorrelationID: "request-7",
		CausationID:   "message-3",
		Actor:         "chat-backend",
	}, records[0].Metadata)
}

func TestHandleAcceptsPointerCommands(t *testing.T) {
	t.Parallel()
	handler, _ := newHandler(t)
	ctx := context.Background()
	user := newUser()

	result, err := handler.Handle(ctx, &commands.AddTask{Header: commands.Header{UserID: user}, Title: "by pointer"})
	require.NoError(t, err)
	require.Positive(t, result.TaskID)
}

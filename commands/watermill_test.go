package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestWatermillAddTaskReturnsTaskID(t *testing.T) {
	t.Parallel()
	client, _, db := newWatermillClient(t)
	ctx := context.Background()
	user := newUser()

	result, err := client.AddTask(ctx, user, "milk", "two litres")
	require.NoError(t, err)
	require.Positive(t, result.TaskID)
	require.True(t, result.Changed)
	require.False(t, result.Duplicate)
	require.NotEmpty(t, result.CommandID, "the bus gives the command an id")
	require.NotEmpty(t, result.Token)

	records := readStream(t, db, user, events.TaskStream(result.TaskID))
	require.Len(t, records, 1)
	require.Equal(t, result.CommandID, records[0].CommandID)
	require.Equal(t, result.Positions, []int64{records[0].Position})
	added, err := records[0].Decode()
	require.NoError(t, err)
	require.Equal(t, events.TaskAdded{TaskID: result.TaskID, Title: "milk", Description: "two litres"}, added)
}

func TestWatermillInvalidCommandKeepsProblems(t *testing.T) {
	t.Parallel()
	client, bus, db := newWatermillClient(t)
	ctx := context.Background()

	// The Processor validates what HandleJSON sends.
	_, err := bus.HandleJSON(ctx, commands.NameAddTask, []byte(`{"user_id": "", "title": " ", "command_id": "bad-1"}`))
	require.ErrorIs(t, err, commands.ErrInvalid)
	replyErr := requireReplyError(t, err, commands.CodeInvalid)
	require.Equal(t, "bad-1", replyErr.CommandID)
	problems := commands.ValidationErrors(err)
	require.Len(t, problems, 2)
	require.Equal(t, "user_id", problems[0].Field)
	require.Equal(t, commands.RuleRequired, problems[0].Rule)
	require.Equal(t, "title", problems[1].Field)
	require.Equal(t, commands.RuleRequired, problems[1].Rule)
	require.Equal(t, commands.NameAddTask, problems[1].Command)

	bad := []struct {
		name, body, rule string
	}{
		{"Shout", `{"user_id": "u1"}`, commands.RuleUnknownCommand},
		{commands.NameAddTask, `{"user_id": "u1", "title":`, commands.RuleJSON},
		{commands.NameAddTask, "{\"user_id\": \"u1\", \"title\": \"\xff\"}", commands.RuleUTF8},
		{commands.NameAddTask, `{"user_id": "u1", "title": 7}`, commands.RuleType},
		{commands.NameCompleteTask, `{"user_id": "u1", "task_id": 1, "color": "red"}`, commands.RuleUnknownField},
	}
	for _, message := range bad {
		_, err := bus.HandleJSON(ctx, message.name, []byte(message.body))
		require.ErrorIs(t, err, commands.ErrInvalid, "%s %s", message.name, message.body)
		problems := commands.ValidationErrors(err)
		require.Len(t, problems, 1, "%s %s", message.name, message.body)
		require.Equal(t, message.rule, problems[0].Rule, "%s %s", message.name, message.body)
	}

	// The Bus rejects invalid input before publishing, as Handler does, also
	// invalid UTF-8 that JSON encoding would otherwise replace.
	_, err = client.AddTask(ctx, newUser(), "milk\xff", "")
	require.ErrorIs(t, err, commands.ErrInvalid)
	require.Equal(t, commands.RuleUTF8, commands.ValidationErrors(err)[0].Rule)

	// The bad messages were acknowledged, so the next command goes through.
	user := newUser()
	result, err := client.AddTask(ctx, user, "milk", "")
	require.NoError(t, err)
	require.Positive(t, result.TaskID)
	require.Equal(t, 1, countEvents(t, db, user))
}

func TestWatermillErrorsKeepTheirKind(t *testing.T) {
	t.Parallel()
	client, _, db := newWatermillClient(t)
	ctx := context.Background()
	user := newUser()

	_, err := client.CompleteTask(ctx, user, 1<<60)
	require.ErrorIs(t, err, commands.ErrNotFound)
	requireReplyError(t, err, commands.CodeNotFound)
	require.Contains(t, err.Error(), "CompleteTask")

	task, err := client.AddTask(ctx, user, "milk", "")
	require.NoError(t, err)
	_, err = client.CompleteTask(ctx, user, task.TaskID, commands.WithExpectedVersion(5))
	require.ErrorIs(t, err, commands.ErrConflict)
	requireReplyError(t, err, commands.CodeConflict)

	completed, err := client.CompleteTask(ctx, user, task.TaskID, commands.WithExpectedVersion(1))
	require.NoError(t, err)
	again, err := client.CompleteTask(ctx, user, task.TaskID)
	require.NoError(t, err, "completing a completed task is not an error")
	require.False(t, again.Changed)
	require.NotEmpty(t, again.Note)
	require.Equal(t, completed.StreamVersion, again.StreamVersion)
	require.Equal(t, 2, countEvents(t, db, user))
}

func TestWatermillRetryReturnsFirstResult(t *testing.T) {
	t.Parallel()
	client, _, db := newWatermillClient(t)
	ctx := context.Background()
	user := newUser()

	first, err := client.AddTask(ctx, user, "milk", "", commands.WithCommandID("retry-1"))
	require.NoError(t, err)
	second, err := client.AddTask(ctx, user, "milk", "", commands.WithCommandID("retry-1"))
	require.NoError(t, err)
	require.True(t, second.Duplicate)
	require.Equal(t, first, withoutDuplicateMarks(second))
	require.Equal(t, 1, countEvents(t, db, user))
}

func TestWatermillConcurrentCommandsGetOwnReplies(t *testing.T) {
	t.Parallel()
	client, _, db := newWatermillClient(t)
	ctx := context.Background()
	user := newUser()
	const senders = 50

	results := make([]commands.Result, senders)
	errs := make([]error, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			results[i], errs[i] = client.AddTask(ctx, user, fmt.Sprintf("task %d", i), "",
				commands.WithCommandID(fmt.Sprintf("concurrent-%d", i)))
		})
	}
	wg.Wait()

	taskIDs := make(map[int64]bool)
	for i, result := range results {
		require.NoError(t, errs[i], "sender %d", i)
		require.Equal(t, fmt.Sprintf("concurrent-%d", i), result.CommandID, "sender %d got another's reply", i)
		require.False(t, taskIDs[result.TaskID], "task id %d returned twice", result.TaskID)
		taskIDs[result.TaskID] = true

		records := readStream(t, db, user, events.TaskStream(result.TaskID))
		require.Len(t, records, 1)
		added, err := records[0].Decode()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("task %d", i), added.(events.TaskAdded).Title)
	}
	require.Equal(t, senders, countEvents(t, db, user))
}

func TestWatermillTimedOutCommandWritesOnce(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	topics := newTopics()
	client := commands.NewClient(newBus(t, db, topics))
	user := newUser()

	// No Processor runs yet, so the first attempt times out.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := client.AddTask(ctx, user, "milk", "", commands.WithCommandID("timed-out"))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// The Processor finds the first message past its sender's deadline and
	// skips it. The retry under the same id writes the task once.
	startProcessor(t, db, handler, topics, 0)
	result, err := client.AddTask(context.Background(), user, "milk", "", commands.WithCommandID("timed-out"))
	require.NoError(t, err)
	require.Positive(t, result.TaskID)
	require.Equal(t, 1, countEvents(t, db, user))
}

func TestWatermillTransientErrorRepliesUnavailable(t *testing.T) {
	t.Parallel()
	db := openPool(t)
	topics := newTopics()
	client := commands.NewClient(newBus(t, db, topics))
	// The Handler's database is a loopback port nothing listens on.
	broken := pgtest.Open(t, closedPortURL(t))
	handler, err := commands.NewHandler(commands.Config{DB: broken, Logger: testLogger(t)})
	require.NoError(t, err)
	startProcessor(t, db, handler, topics, 300*time.Millisecond)

	started := time.Now()
	_, err = client.AddTask(context.Background(), newUser(), "milk", "")
	require.ErrorIs(t, err, commands.ErrUnavailable)
	replyErr := requireReplyError(t, err, commands.CodeUnavailable)
	require.NotContains(t, replyErr.Message, "127.0.0.1", "database details stay in the processor's log")
	require.GreaterOrEqual(t, time.Since(started), 250*time.Millisecond, "the processor retried first")
	require.False(t, errors.Is(err, commands.ErrInvalid))
}

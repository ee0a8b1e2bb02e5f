package commands_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
)

// withoutDuplicateMarks returns r as the first attempt returned it.
func withoutDuplicateMarks(r commands.Result) commands.Result {
	r.Duplicate = false
	r.Note = ""
	return r
}

func TestRetriedCommandReturnsFirstResult(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	ctx := context.Background()
	user := newUser()

	add := commands.AddTask{Header: commands.Header{UserID: user, CommandID: "add-1"}, Title: "milk"}
	first, err := handler.Handle(ctx, add)
	require.NoError(t, err)
	require.False(t, first.Duplicate)

	add.Title = "a different title under the same key"
	second, err := handler.Handle(ctx, add)
	require.NoError(t, err)
	require.True(t, second.Duplicate)
	require.NotEmpty(t, second.Note)
	require.Equal(t, first, withoutDuplicateMarks(second))

	message := commands.AppendMessage{Header: commands.Header{UserID: user, CommandID: "msg-1"}, Role: "user", Content: "hi"}
	firstMessage, err := handler.Handle(ctx, message)
	require.NoError(t, err)
	secondMessage, err := handler.Handle(ctx, message)
	require.NoError(t, err)
	require.True(t, secondMessage.Duplicate)
	require.Equal(t, firstMessage, withoutDuplicateMarks(secondMessage), "the ids of the first attempt come back")

	require.Equal(t, 1+2, countEvents(t, db, user))
}

// handleConcurrently runs cmd from n goroutines at once and returns every
// result, failing the test on any error.
func handleConcurrently(t *testing.T, handler *commands.Handler, cmd commands.Command, n int) []commands.Result {
	t.Helper()
	results := make([]commands.Result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = handler.Handle(context.Background(), cmd)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
	}
	return results
}

// requireOneFirstResult checks that exactly one result is the first and
// that every other one repeats it.
func requireOneFirstResult(t *testing.T, results []commands.Result) {
	t.Helper()
	var first commands.Result
	firsts := 0
	for _, r := range results {
		if !r.Duplicate {
			first = r
			firsts++
		}
	}
	require.Equal(t, 1, firsts, "results that are not duplicates")
	for i, r := range results {
		require.Equal(t, first, withoutDuplicateMarks(r), "result %d", i)
	}
}

func TestConcurrentRetriesWriteOnce(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	db.SetMaxOpenConns(16)
	ctx := context.Background()
	user := newUser()
	const attempts = 16

	add := commands.AddTask{Header: commands.Header{UserID: user, CommandID: "concurrent-add"}, Title: "milk"}
	added := handleConcurrently(t, handler, add, attempts)
	requireOneFirstResult(t, added)
	require.Equal(t, 1, countEvents(t, db, user))

	// Appends to one stream race on its version too, not only on the key.
	conversation, err := handler.Handle(ctx, commands.StartConversation{Header: commands.Header{UserID: user}})
	require.NoError(t, err)
	message := commands.AppendMessage{
		Header:         commands.Header{UserID: user, CommandID: "concurrent-message"},
		ConversationID: conversation.ConversationID, Role: "user", Content: "hi",
	}
	requireOneFirstResult(t, handleConcurrently(t, handler, message, attempts))
	require.Len(t, readStream(t, db, user, events.ConversationStream(conversation.ConversationID)), 2)

	// With an expected version, a racing attempt's append fails on the
	// stream version before the key is seen, and still gets the first result.
	complete := commands.CompleteTask{
		Header: commands.Header{UserID: user, CommandID: "concurrent-complete", ExpectedVersion: ptr(1)},
		TaskID: added[0].TaskID,
	}
	requireOneFirstResult(t, handleConcurrently(t, handler, complete, attempts))
	require.Equal(t, 1+2+1, countEvents(t, db, user))
}

func TestStaleExpectedVersionConflicts(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	task, err := client.AddTask(ctx, user, "milk", "")
	require.NoError(t, err)
	_, err = client.CompleteTask(ctx, user, task.TaskID, commands.WithExpectedVersion(1))
	require.NoError(t, err)

	_, err = client.ReopenTask(ctx, user, task.TaskID, commands.WithExpectedVersion(1))
	require.ErrorIs(t, err, commands.ErrConflict)
	var conflict *events.ConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, 1, conflict.Expected)
	require.Equal(t, 2, conflict.Actual)

	_, err = client.CompleteTask(ctx, user, task.TaskID, commands.WithExpectedVersion(1))
	require.ErrorIs(t, err, commands.ErrConflict, "a stale caller learns of the conflict even when nothing would change")

	conversation, err := client.AppendMessage(ctx, user, 0, "user", "hi")
	require.NoError(t, err)
	_, err = client.AppendMessage(ctx, user, conversation.ConversationID, "assistant", "hello",
		commands.WithExpectedVersion(1))
	require.ErrorIs(t, err, commands.ErrConflict)

	require.Equal(t, 2+2, countEvents(t, db, user))
}

func TestConcurrentAppendsToOneConversation(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	db.SetMaxOpenConns(20)
	client := commands.NewClient(handler)
	ctx := context.Background()
	user := newUser()

	conversation, err := client.StartConversation(ctx, user)
	require.NoError(t, err)
	const messages = 100
	results := make([]commands.Result, messages)
	errs := make([]error, messages)
	var wg sync.WaitGroup
	for i := range messages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = client.AppendMessage(ctx, user, conversation.ConversationID, "user", "message "+itoa(int64(i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}

	versions := map[int]bool{}
	for _, r := range results {
		versions[r.StreamVersion] = true
	}
	require.Len(t, versions, messages, "each append got its own stream version")

	records := readStream(t, db, user, events.ConversationStream(conversation.ConversationID))
	require.Len(t, records, messages+1)
	lastMessageID := int64(0)
	for i, record := range records {
		require.Equal(t, i+1, record.StreamVersion)
		if i == 0 {
			continue
		}
		event, err := record.Decode()
		require.NoError(t, err)
		message := event.(events.MessageAppended)
		require.Greater(t, message.MessageID, lastMessageID, "message ids grow with the stream version")
		lastMessageID = message.MessageID
	}
}

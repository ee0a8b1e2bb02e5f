package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/projections"
)

func TestListTasksFiltersByStatus(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	ctx := context.Background()
	user := newUser()
	open, _ := addTask(t, db, user, "open")
	done, _ := addTask(t, db, user, "done")
	appendEvents(t, db, user, events.TaskStream(done), events.TaskCompleted{TaskID: done})
	applyLog(t, db, db)

	all, err := projections.ListTasks(ctx, db, user, projections.StatusAll)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, []int64{open, done}, []int64{all[0].ID, all[1].ID})
	pending, err := projections.ListTasks(ctx, db, user, projections.StatusPending)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, open, pending[0].ID)
	completed, err := projections.ListTasks(ctx, db, user, projections.StatusCompleted)
	require.NoError(t, err)
	require.Len(t, completed, 1)
	require.Equal(t, done, completed[0].ID)
	require.True(t, completed[0].Completed)
	require.Equal(t, 2, completed[0].Version)

	_, err = projections.ListTasks(ctx, db, user, "finished")
	require.ErrorIs(t, err, events.ErrInvalid)
	_, err = projections.ListTasks(ctx, db, "not a user id", projections.StatusAll)
	require.ErrorIs(t, err, events.ErrInvalid)
}

func TestQueriesHideOtherUsersIDs(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	ctx := context.Background()
	owner, other := newUser(), newUser()
	taskID, _ := addTask(t, db, owner, "private")
	conversationID, messageID := nextID(), nextID()
	appendEvents(t, db, owner, events.ConversationStream(conversationID),
		events.ConversationStarted{ConversationID: conversationID},
		events.MessageAppended{ConversationID: conversationID, MessageID: messageID, Role: "user", Content: "secret"})
	applyLog(t, db, db)

	_, err := projections.GetTask(ctx, db, owner, taskID)
	require.NoError(t, err)
	_, err = projections.GetTask(ctx, db, other, taskID)
	require.ErrorIs(t, err, projections.ErrNotFound)
	_, err = projections.GetConversation(ctx, db, other, conversationID)
	require.ErrorIs(t, err, projections.ErrNotFound)
	_, err = projections.ListMessages(ctx, db, other, conversationID, projections.MessagePage{})
	require.ErrorIs(t, err, projections.ErrNotFound)
	_, err = projections.ListMessages(ctx, db, owner, conversationID, projections.MessagePage{AfterID: taskID})
	require.ErrorIs(t, err, projections.ErrNotFound, "an id that is not a message of the conversation")

	tasks, err := projections.ListTasks(ctx, db, other, projections.StatusAll)
	require.NoError(t, err)
	require.Empty(t, tasks)
	conversations, err := projections.ListConversations(ctx, db, other, 0)
	require.NoError(t, err)
	require.Empty(t, conversations)
}

func TestListMessagesLatestAndAfter(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	ctx := context.Background()
	user := newUser()
	conversationID := nextID()
	stream := events.ConversationStream(conversationID)
	appendEvents(t, db, user, stream, events.ConversationStarted{ConversationID: conversationID})
	var ids []int64
	for _, content := range []string{"one", "two", "three", "four", "five"} {
		id := nextID()
		ids = append(ids, id)
		appendEvents(t, db, user, stream, events.MessageAppended{
			ConversationID: conversationID, MessageID: id, Role: "user", Content: content,
		})
	}
	applyLog(t, db, db)
	contents := func(page projections.MessagePage) []string {
		t.Helper()
		messages, err := projections.ListMessages(ctx, db, user, conversationID, page)
		require.NoError(t, err)
		list := []string{}
		for _, m := range messages {
			list = append(list, m.Content)
		}
		return list
	}

	require.Equal(t, []string{"one", "two", "three", "four", "five"}, contents(projections.MessagePage{}))
	require.Equal(t, []string{"four", "five"}, contents(projections.MessagePage{Limit: 2}))
	require.Equal(t, []string{"three", "four", "five"}, contents(projections.MessagePage{AfterID: ids[1]}))
	require.Equal(t, []string{"three"}, contents(projections.MessagePage{AfterID: ids[1], Limit: 1}))
	require.Equal(t, []string{}, contents(projections.MessagePage{AfterID: ids[4]}))

	_, err := projections.ListMessages(ctx, db, user, conversationID, projections.MessagePage{Limit: -1})
	require.ErrorIs(t, err, events.ErrInvalid)
}

func TestListConversationsNewestFirst(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	ctx := context.Background()
	user := newUser()
	start := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	write := func(at time.Time, stream events.Stream, e events.Event) {
		_, err := events.Append(ctx, db, events.AppendRequest{
			UserID: user, Stream: stream, ExpectedVersion: events.AnyVersion, OccurredAt: at, Events: []events.Event{e},
		})
		require.NoError(t, err)
	}
	older, newer := nextID(), nextID()
	write(start, events.ConversationStream(older), events.ConversationStarted{ConversationID: older})
	write(start.Add(time.Hour), events.ConversationStream(newer), events.ConversationStarted{ConversationID: newer})
	applyLog(t, db, db)

	conversations, err := projections.ListConversations(ctx, db, user, 0)
	require.NoError(t, err)
	require.Equal(t, []int64{newer, older}, []int64{conversations[0].ID, conversations[1].ID})

	// A new message makes the older conversation the most recent one.
	write(start.Add(2*time.Hour), events.ConversationStream(older), events.MessageAppended{
		ConversationID: older, MessageID: nextID(), Role: "user", Content: "back again",
	})
	applyLog(t, db, db)
	conversations, err = projections.ListConversations(ctx, db, user, 1)
	require.NoError(t, err)
	require.Len(t, conversations, 1)
	require.Equal(t, older, conversations[0].ID)
	require.Equal(t, start.Add(2*time.Hour), conversations[0].UpdatedAt)
	require.Equal(t, start, conversations[0].CreatedAt)
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	user := newUser()
	taskID, _ := addTask(t, db, user, "once")
	appendEvents(t, db, user, events.TaskStream(taskID), events.TaskCompleted{TaskID: taskID})
	appendEvents(t, db, user, events.TaskStream(taskID), events.TaskReopened{TaskID: taskID})
	applyLog(t, db, db)
	before, err := projections.GetTask(context.Background(), db, user, taskID)
	require.NoError(t, err)

	applyLog(t, db, db)
	after, err := projections.GetTask(context.Background(), db, user, taskID)
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.False(t, after.Completed, "re-applying TaskCompleted must not undo the later TaskReopened")
}

package projections_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/projections"
)

// insertUnknownEvent appends an event of a type the codec does not know,
// with plain SQL as an older or newer writer could. The insert trigger
// fills in position, version, sequence and hash. It returns the position.
func insertUnknownEvent(t *testing.T, db *sql.DB, user string, taskID int64) int64 {
	t.Helper()
	var position int64
	err := db.QueryRow(`INSERT INTO events
		(event_id, user_id, stream_type, stream_id, event_type, schema_version, payload, command_id, occurred_at)
		VALUES ($1, $2, 'task', $3, 'TaskArchived', 1, jsonb_build_object('task_id', $3::bigint), $4, now())
		RETURNING position`, uuid.New(), user, taskID, uuid.NewString()).Scan(&position)
	require.NoError(t, err)
	return position
}

// waitForParked waits until the projection has parked n events.
func waitForParked(t *testing.T, db *sql.DB, projectionName string, n int) []projections.ParkedEvent {
	t.Helper()
	var parked []projections.ParkedEvent
	require.Eventually(t, func() bool {
		var err error
		parked, err = projections.ListParked(context.Background(), db, projectionName)
		require.NoError(t, err)
		return len(parked) == n
	}, 20*time.Second, 20*time.Millisecond)
	return parked
}

func TestUnknownEventParksOnlyItsUser(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))
	userA, userB := newUser(), newUser()

	taskA, _ := addTask(t, db, userA, "a")
	unknownPosition := insertUnknownEvent(t, db, userA, taskA)
	heldResult := appendEvents(t, db, userA, events.TaskStream(taskA), events.TaskCompleted{TaskID: taskA})
	taskB, _ := addTask(t, db, userB, "b")
	resultB := appendEvents(t, db, userB, events.TaskStream(taskB), events.TaskCompleted{TaskID: taskB})

	waitFor(t, db, resultB)
	otherUsers, err := projections.GetTask(ctx, db, userB, taskB)
	require.NoError(t, err)
	require.True(t, otherUsers.Completed, "user B's events keep flowing")
	blocked, err := projections.GetTask(ctx, db, userA, taskA)
	require.NoError(t, err)
	require.False(t, blocked.Completed, "user A's later event waits behind the parked one")
	err = projections.WaitFor(ctx, db, userA, cursorOf(heldResult), time.Second)
	require.ErrorIs(t, err, projections.ErrParked)

	parked := waitForParked(t, db, projections.Tasks, 2)
	require.Equal(t, unknownPosition, parked[0].Position)
	require.Equal(t, userA, parked[0].UserID)
	require.Equal(t, "TaskArchived", parked[0].EventType)
	require.Contains(t, parked[0].Error, "unknown event type")
	require.Equal(t, projections.DefaultMaxAttempts, parked[0].Attempts)
	require.False(t, parked[0].Held)
	require.Equal(t, heldResult.LastPosition(), parked[1].Position)
	require.True(t, parked[1].Held)
	require.Zero(t, parked[1].Attempts)
	conversationsParked, err := projections.ListParked(ctx, db, projections.Conversations)
	require.NoError(t, err)
	require.Empty(t, conversationsParked, "the conversations projection does not read task streams")
	require.Equal(t, int64(2), projector.Stats()[0].Parked)

	var parkedLog []logEntry
	for _, entry := range log.Entries(slog.LevelError) {
		if entry.Attrs["position"] == strconv.FormatInt(unknownPosition, 10) {
			parkedLog = append(parkedLog, entry)
		}
	}
	require.Len(t, parkedLog, 1)
	require.Equal(t, userA, parkedLog[0].Attrs["user_id"])
	require.Equal(t, projections.Tasks, parkedLog[0].Attrs["projection"])

	_, err = projections.RetryParked(ctx, db, projections.Tasks, parked[1].Position)
	require.ErrorIs(t, err, projections.ErrHeld)
	_, err = projections.RetryParked(ctx, db, projections.Tasks, unknownPosition)
	require.ErrorContains(t, err, "unknown event type")
	parked, err = projections.ListParked(ctx, db, projections.Tasks)
	require.NoError(t, err)
	require.Equal(t, projections.DefaultMaxAttempts+1, parked[0].Attempts)

	resolution, err := projections.SkipParked(ctx, db, projections.Tasks, unknownPosition)
	require.NoError(t, err)
	require.Equal(t, projections.Resolution{Released: 1}, resolution)
	released, err := projections.GetTask(ctx, db, userA, taskA)
	require.NoError(t, err)
	require.True(t, released.Completed)
	parked, err = projections.ListParked(ctx, db, "")
	require.NoError(t, err)
	require.Empty(t, parked)

	reopened := appendEvents(t, db, userA, events.TaskStream(taskA), events.TaskReopened{TaskID: taskA})
	waitFor(t, db, reopened)
	current, err := projections.GetTask(ctx, db, userA, taskA)
	require.NoError(t, err)
	require.False(t, current.Completed, "user A's new events apply again")
}

func TestRetryAppliesParkedEventAfterFix(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	startProjector(t, db, fastConfig(log))
	user := newUser()

	// A stray row of another user holds the task's id, so adding the task
	// breaks the read table's primary key.
	taskID := nextID()
	_, err := db.Exec(`INSERT INTO tasks (id, user_id, title, created_at, updated_at, stream_version, last_position)
		VALUES ($1, 'someone-else', 'stray', now(), now(), 1, 0)`, taskID)
	require.NoError(t, err)
	added := appendEvents(t, db, user, events.TaskStream(taskID), events.TaskAdded{TaskID: taskID, Title: "mine"})
	completed := appendEvents(t, db, user, events.TaskStream(taskID), events.TaskCompleted{TaskID: taskID})

	parked := waitForParked(t, db, projections.Tasks, 2)
	require.Equal(t, added.LastPosition(), parked[0].Position)
	require.Contains(t, parked[0].Error, "already belongs to another user")
	require.True(t, parked[1].Held)

	_, err = db.Exec(`DELETE FROM tasks WHERE id = $1 AND user_id = 'someone-else'`, taskID)
	require.NoError(t, err)
	resolution, err := projections.RetryParked(ctx, db, projections.Tasks, parked[0].Position)
	require.NoError(t, err)
	require.Equal(t, projections.Resolution{Released: 1}, resolution)

	waitFor(t, db, completed)
	task, err := projections.GetTask(ctx, db, user, taskID)
	require.NoError(t, err)
	require.Equal(t, "mine", task.Title)
	require.True(t, task.Completed)
	require.Equal(t, 2, task.Version)
}

func TestConstraintViolationParksEvent(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	startProjector(t, db, fastConfig(log))
	user := newUser()

	conversationID := nextID()
	stream := events.ConversationStream(conversationID)
	appendEvents(t, db, user, stream, events.ConversationStarted{ConversationID: conversationID})
	bad := appendEvents(t, db, user, stream, events.MessageAppended{
		ConversationID: conversationID, MessageID: nextID(), Role: "robot", Content: "beep",
	})

	err := projections.WaitFor(ctx, db, user, cursorOf(bad), 20*time.Second)
	require.ErrorIs(t, err, projections.ErrParked)
	parked := waitForParked(t, db, projections.Conversations, 1)
	require.Contains(t, parked[0].Error, "messages_role_check")
	messages, err := projections.ListMessages(ctx, db, user, conversationID, projections.MessagePage{})
	require.NoError(t, err)
	require.Empty(t, messages)
}

// An event parked in a batch must hold back the same user's later events
// of that batch, which the batch read before the event was parked.
func TestParkedEventHoldsRestOfBatch(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	user, otherUser := newUser(), newUser()

	// The events commit before the projector starts, so its first batch
	// (fastConfig reads 10 events a batch) holds all of them.
	taskID, _ := addTask(t, db, user, "a")
	unknownPosition := insertUnknownEvent(t, db, user, taskID)
	heldResult := appendEvents(t, db, user, events.TaskStream(taskID), events.TaskCompleted{TaskID: taskID})
	otherTaskID, otherResult := addTask(t, db, otherUser, "b")
	startProjector(t, db, fastConfig(log))

	waitFor(t, db, otherResult)
	parked := waitForParked(t, db, projections.Tasks, 2)
	require.Equal(t, unknownPosition, parked[0].Position)
	require.False(t, parked[0].Held)
	require.Equal(t, heldResult.LastPosition(), parked[1].Position)
	require.True(t, parked[1].Held)
	task, err := projections.GetTask(ctx, db, user, taskID)
	require.NoError(t, err)
	require.False(t, task.Completed, "the held event was not applied")
	_, err = projections.GetTask(ctx, db, otherUser, otherTaskID)
	require.NoError(t, err, "the other user's event in the same batch was applied")
}

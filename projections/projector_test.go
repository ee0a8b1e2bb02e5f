package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

// An event whose transaction commits after a later-numbered event's must
// still be projected, and the later one must wait for it, not skip it.
func TestProjectorWaitsForOpenTransaction(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))
	userA, userB := newUser(), newUser()

	open, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer open.Rollback()
	taskA, resultA := addTask(t, open, userA, "written first, committed last")
	taskB, resultB := addTask(t, db, userB, "written second, committed first")
	require.Less(t, resultA.LastPosition(), resultB.LastPosition())
	require.Less(t, resultA.TransactionID, resultB.TransactionID)

	// Several polls pass while the first transaction is open: the later
	// event must not be projected before the earlier one.
	err = projections.WaitFor(ctx, db, userB, cursorOf(resultB), 300*time.Millisecond)
	require.ErrorIs(t, err, projections.ErrWaitTimeout)
	_, err = projections.GetTask(ctx, db, userB, taskB)
	require.ErrorIs(t, err, projections.ErrNotFound)

	require.NoError(t, open.Commit())
	waitFor(t, db, resultB)

	first, err := projections.GetTask(ctx, db, userA, taskA)
	require.NoError(t, err)
	require.Equal(t, "written first, committed last", first.Title)
	second, err := projections.GetTask(ctx, db, userB, taskB)
	require.NoError(t, err)
	require.Equal(t, "written second, committed first", second.Title)

	lags, err := projections.ReadLag(ctx, db)
	require.NoError(t, err)
	for _, lag := range lags {
		require.Equal(t, cursorOf(resultB), lag.Checkpoint, lag.Projection)
		require.Zero(t, lag.Events, lag.Projection)
	}
	stats := projector.Stats()
	require.Equal(t, projections.Tasks, stats[0].Projection)
	require.Equal(t, int64(2), stats[0].Applied, "each event applied once")
	require.Zero(t, stats[0].AlreadyApplied)
	require.Zero(t, stats[0].Parked)
	require.Equal(t, int64(2), stats[1].Ignored, "the conversations projection skips task events")
}

// writeUserHistory writes one user's tasks and conversation in three
// transactions, sleeping at random inside each so transactions of different
// users overlap and commit out of position order. It returns the token of
// the user's last event.
func writeUserHistory(ctx context.Context, db *sql.DB, user string, taskIDs [3]int64, conversationID int64) (events.Cursor, error) {
	pause := func() { time.Sleep(rand.N(15 * time.Millisecond)) }
	var last events.AppendResult
	write := func(batches ...[]events.AppendRequest) error {
		for _, batch := range batches {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			for _, req := range batch {
				req.UserID, req.ExpectedVersion = user, events.AnyVersion
				if last, err = events.Append(ctx, tx, req); err != nil {
					tx.Rollback()
					return err
				}
				pause()
			}
			if err := tx.Commit(); err != nil {
				return err
			}
		}
		return nil
	}

	var addTasks, changeTasks, chat []events.AppendRequest
	for i, id := range taskIDs {
		addTasks = append(addTasks, events.AppendRequest{Stream: events.TaskStream(id),
			Events: []events.Event{events.TaskAdded{TaskID: id, Title: fmt.Sprintf("task %d", i)}}})
	}
	changeTasks = []events.AppendRequest{
		{Stream: events.TaskStream(taskIDs[0]), Events: []events.Event{events.TaskCompleted{TaskID: taskIDs[0]}}},
		{Stream: events.TaskStream(taskIDs[1]), Events: []events.Event{events.TaskDeleted{TaskID: taskIDs[1]}}},
	}
	stream := events.ConversationStream(conversationID)
	chat = []events.AppendRequest{{Stream: stream, Events: []events.Event{events.ConversationStarted{ConversationID: conversationID}}}}
	for i := range 3 {
		chat = append(chat, events.AppendRequest{Stream: stream, Events: []events.Event{events.MessageAppended{
			ConversationID: conversationID, MessageID: conversationID*10 + int64(i), Role: "user", Content: fmt.Sprintf("m%d", i),
		}}})
	}
	if err := write(addTasks, changeTasks, chat); err != nil {
		return events.Cursor{}, fmt.Errorf("user %s: %w", user, err)
	}
	return cursorOf(last), nil
}

// Fifty users write at once while projectors run in parallel, one of them
// stopping halfway as a crashed process would: every user's read rows must
// match the log, each event applied exactly once.
func TestProjectorKeepsPerUserCounts(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	url, db := newDatabase(t)
	ctx := context.Background()
	cfg := fastConfig(log)
	stopped := startProjector(t, pgtest.Open(t, url), cfg)
	startProjector(t, pgtest.Open(t, url), cfg)
	writers := pgtest.Open(t, url)
	writers.SetMaxOpenConns(20)

	const users = 50
	tokens := make([]events.Cursor, users)
	userIDs := make([]string, users)
	failures := make([]error, users)
	var wg sync.WaitGroup
	var finished atomic.Int32
	halfDone := make(chan struct{})
	for i := range users {
		userIDs[i] = newUser()
		tasks := [3]int64{nextID(), nextID(), nextID()}
		conversation := nextID()
		wg.Go(func() {
			tokens[i], failures[i] = writeUserHistory(ctx, writers, userIDs[i], tasks, conversation)
			if finished.Add(1) == users/2 {
				close(halfDone)
			}
		})
	}
	<-halfDone
	stopped.Stop()
	startProjector(t, pgtest.Open(t, url), cfg)
	wg.Wait()
	require.NoError(t, errors.Join(failures...))

	for i, token := range tokens {
		require.NoError(t, projections.WaitFor(ctx, db, userIDs[i], token, 30*time.Second))
	}

	for _, user := range userIDs {
		tasks, err := projections.ListTasks(ctx, db, user, projections.StatusAll)
		require.NoError(t, err)
		require.Len(t, tasks, 2, user)
		completed, err := projections.ListTasks(ctx, db, user, projections.StatusCompleted)
		require.NoError(t, err)
		require.Len(t, completed, 1, user)
		conversations, err := projections.ListConversations(ctx, db, user, 0)
		require.NoError(t, err)
		require.Len(t, conversations, 1, user)
		messages, err := projections.ListMessages(ctx, db, user, conversations[0].ID, projections.MessagePage{})
		require.NoError(t, err)
		require.Len(t, messages, 3, user)
		for i, m := range messages {
			require.Equal(t, fmt.Sprintf("m%d", i), m.Content, user)
		}
	}

	var mismatched []string
	rows, err := db.Query(`WITH logged AS (
		    SELECT user_id,
		           count(*) FILTER (WHERE event_type = 'TaskAdded')
		             - count(*) FILTER (WHERE event_type = 'TaskDeleted') AS tasks,
		           count(*) FILTER (WHERE event_type = 'ConversationStarted') AS conversations,
		           count(*) FILTER (WHERE event_type = 'MessageAppended') AS messages
		      FROM events GROUP BY user_id
		)
		SELECT user_id FROM logged l
		 WHERE (l.tasks, l.conversations, l.messages) <> (
		       (SELECT count(*) FROM tasks t WHERE t.user_id = l.user_id),
		       (SELECT count(*) FROM conversations c WHERE c.user_id = l.user_id),
		       (SELECT count(*) FROM messages m WHERE m.user_id = l.user_id))`)
	require.NoError(t, err)
	for rows.Next() {
		var user string
		require.NoError(t, rows.Scan(&user))
		mismatched = append(mismatched, user)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, mismatched, "users whose read rows differ from the log")

	var staleRows int
	require.NoError(t, db.QueryRow(`SELECT
		(SELECT count(*) FROM tasks t WHERE t.stream_version <> (SELECT max(stream_version) FROM events e
		  WHERE e.user_id = t.user_id AND e.stream_type = 'task' AND e.stream_id = t.id))
		+ (SELECT count(*) FROM conversations c WHERE c.stream_version <> (SELECT max(stream_version) FROM events e
		  WHERE e.user_id = c.user_id AND e.stream_type = 'conversation' AND e.stream_id = c.id))`).Scan(&staleRows))
	require.Zero(t, staleRows, "rows behind their stream's last event")

	parked, err := projections.ListParked(ctx, db, "")
	require.NoError(t, err)
	require.Empty(t, parked)
	// watermill-sql itself may log at Error while a projector stops (a
	// failed rollback of a canceled batch); only the projector's own
	// errors count here. Watermill's lines carry a subscriber_id.
	for _, entry := range log.Entries(slog.LevelError) {
		_, fromWatermill := entry.Attrs["subscriber_id"]
		require.True(t, fromWatermill, "unexpected error log: %s %v", entry.Message, entry.Attrs)
	}
}

func TestRunFailsWithoutReadTables(t *testing.T) {
	log := newTestLog(t)
	db := pgtest.Open(t, pgtest.NewDatabase(t, false))
	projector, err := projections.New(db, projections.Config{Logger: log.Logger()})
	require.NoError(t, err)

	err = projector.Run(context.Background())
	require.ErrorContains(t, err, "projection_checkpoints")
}

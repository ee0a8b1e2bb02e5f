package projections_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/projections"
)

// writeMixedHistory writes every event type for user, with explicit
// occurred_at times, and returns the last append's result.
func writeMixedHistory(t *testing.T, db events.DBTX, user string, start time.Time) events.AppendResult {
	t.Helper()
	ctx := context.Background()
	at := start
	write := func(stream events.Stream, evs ...events.Event) events.AppendResult {
		at = at.Add(time.Minute)
		result, err := events.Append(ctx, db, events.AppendRequest{
			UserID: user, Stream: stream, ExpectedVersion: events.AnyVersion, OccurredAt: at, Events: evs,
		})
		require.NoError(t, err)
		return result
	}

	keptTask, deletedTask := nextID(), nextID()
	newTitle, newDescription := "buy oat milk", "the barista kind"
	write(events.TaskStream(keptTask), events.TaskAdded{TaskID: keptTask, Title: "buy milk", Description: "2 litres"})
	write(events.TaskStream(deletedTask), events.TaskAdded{TaskID: deletedTask, Title: "call bank"})
	write(events.TaskStream(keptTask), events.TaskUpdated{TaskID: keptTask, Title: &newTitle})
	write(events.TaskStream(keptTask), events.TaskUpdated{TaskID: keptTask, Description: &newDescription})
	write(events.TaskStream(keptTask), events.TaskCompleted{TaskID: keptTask})
	write(events.TaskStream(deletedTask), events.TaskCompleted{TaskID: deletedTask})
	write(events.TaskStream(deletedTask), events.TaskReopened{TaskID: deletedTask})
	write(events.TaskStream(deletedTask), events.TaskDeleted{TaskID: deletedTask})

	var last events.AppendResult
	for range 2 {
		conversation := nextID()
		stream := events.ConversationStream(conversation)
		write(stream, events.ConversationStarted{ConversationID: conversation})
		for i, role := range []string{"user", "assistant", "tool", "system"} {
			last = write(stream, events.MessageAppended{
				ConversationID: conversation, MessageID: nextID(), Role: role, Content: fmt.Sprintf("%s says %d", role, i),
			})
		}
	}
	return last
}

// Projecting the whole log from scratch into empty tables must reproduce
// the live read tables row for row, ids, timestamps and versions included.
func TestRebuildMatchesLiveTables(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, live := newDatabase(t)
	startProjector(t, live, fastConfig(log))

	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	var lastResults []events.AppendResult
	for i := range 4 {
		lastResults = append(lastResults, writeMixedHistory(t, live, newUser(), start.Add(time.Duration(i)*time.Hour)))
	}
	for _, result := range lastResults {
		waitFor(t, live, result)
	}

	_, rebuilt := newDatabase(t)
	applyLog(t, live, rebuilt)

	for _, table := range []string{"tasks", "conversations", "messages"} {
		liveRows := tableRows(t, live, table)
		require.NotEmpty(t, liveRows, table)
		require.Equal(t, liveRows, tableRows(t, rebuilt, table), table)
	}
}

// waitForVisibleLog waits until every transaction that wrote to the log has
// ended, so a rebuild's bound lies above every event. Tests of other
// packages share the server and can hold the bound back for a while.
func waitForVisibleLog(t *testing.T, db *sql.DB) {
	t.Helper()
	require.Eventually(t, func() bool {
		var visible bool
		err := db.QueryRow(`SELECT coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), true)
			FROM events`).Scan(&visible)
		require.NoError(t, err)
		return visible
	}, 20*time.Second, 10*time.Millisecond)
}

// requireFreshProjection fails the test unless the read tables of db equal
// a projection of its whole log into an empty database.
func requireFreshProjection(t *testing.T, db *sql.DB) {
	t.Helper()
	_, fresh := newDatabase(t)
	applyLog(t, db, fresh)
	for _, table := range projections.ReadTables() {
		require.Equal(t, tableRows(t, fresh, table), tableRows(t, db, table), table)
	}
}

// comparison returns the comparison of table in result.
func comparison(t *testing.T, result projections.RebuildResult, table string) projections.TableComparison {
	t.Helper()
	for _, rebuilt := range result.Projections {
		for _, c := range rebuilt.Tables {
			if c.Table == table {
				return c
			}
		}
	}
	t.Fatalf("the rebuild result has no table %s: %+v", table, result)
	return projections.TableComparison{}
}

// readCheckpoints returns every projection's checkpoint row as text.
func readCheckpoints(t *testing.T, db *sql.DB) string {
	t.Helper()
	var checkpoints string
	require.NoError(t, db.QueryRow(`SELECT coalesce(string_agg(
		    projection || ' ' || last_transaction_id || ' ' || last_position || ' ' || updated_at, E'\n' ORDER BY projection), '')
		FROM projection_checkpoints`).Scan(&checkpoints))
	return checkpoints
}

func TestRebuildRestoresCorruptedRows(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))
	start := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	for i := range 2 {
		waitFor(t, db, writeMixedHistory(t, db, newUser(), start.Add(time.Duration(i)*time.Hour)))
	}
	projector.Stop()

	var taskID, messageID int64
	require.NoError(t, db.QueryRow(`UPDATE tasks SET title = 'corrupted' WHERE id = (SELECT min(id) FROM tasks)
		RETURNING id`).Scan(&taskID))
	require.NoError(t, db.QueryRow(`DELETE FROM messages WHERE id = (SELECT max(id) FROM messages)
		RETURNING id`).Scan(&messageID))
	waitForVisibleLog(t, db)

	result, err := projections.Rebuild(ctx, db, projections.RebuildConfig{Logger: log.Logger()})
	require.NoError(t, err)
	require.Len(t, result.Projections, 2)
	for _, rebuilt := range result.Projections {
		require.Positive(t, rebuilt.Applied, rebuilt.Projection)
		require.Empty(t, rebuilt.Parked, rebuilt.Projection)
		require.False(t, rebuilt.DryRun, rebuilt.Projection)
	}
	tasks := comparison(t, result, "tasks")
	require.False(t, tasks.Equal(), "the corrupted title differs")
	require.Equal(t, tasks.Live.Rows, tasks.Rebuilt.Rows)
	messages := comparison(t, result, "messages")
	require.Equal(t, messages.Live.Rows+1, messages.Rebuilt.Rows, "the deleted message is back")
	require.True(t, comparison(t, result, "conversations").Equal())

	requireFreshProjection(t, db)
	var title string
	require.NoError(t, db.QueryRow(`SELECT title FROM tasks WHERE id = $1`, taskID).Scan(&title))
	require.Equal(t, "buy oat milk", title)

	again, err := projections.Rebuild(ctx, db, projections.RebuildConfig{Logger: log.Logger()})
	require.NoError(t, err)
	for _, rebuilt := range again.Projections {
		require.True(t, rebuilt.Equal(), "a second rebuild finds nothing to change in %s", rebuilt.Projection)
	}
}

func TestRebuildDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))
	waitFor(t, db, writeMixedHistory(t, db, newUser(), time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)))
	projector.Stop()

	var taskID int64
	require.NoError(t, db.QueryRow(`UPDATE tasks SET completed = NOT completed WHERE id = (SELECT min(id) FROM tasks)
		RETURNING id`).Scan(&taskID))
	waitForVisibleLog(t, db)
	before := map[string][]string{}
	for _, table := range projections.ReadTables() {
		before[table] = tableRows(t, db, table)
	}
	checkpoints := readCheckpoints(t, db)

	result, err := projections.Rebuild(ctx, db, projections.RebuildConfig{DryRun: true, Logger: log.Logger()})
	require.NoError(t, err)
	tasks := comparison(t, result, "tasks")
	require.False(t, tasks.Equal())
	require.NotNil(t, tasks.Differences)
	require.Equal(t, projections.RowDifferences{Changed: 1, SampleIDs: []int64{taskID}}, *tasks.Differences)
	for _, table := range []string{"conversations", "messages"} {
		c := comparison(t, result, table)
		require.True(t, c.Equal(), table)
		require.Equal(t, projections.RowDifferences{SampleIDs: []int64{}}, *c.Differences, table)
	}

	for _, table := range projections.ReadTables() {
		require.Equal(t, before[table], tableRows(t, db, table), table)
	}
	require.Equal(t, checkpoints, readCheckpoints(t, db))
}

func TestRebuildParksFailingEventAgain(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))
	user := newUser()
	taskID, _ := addTask(t, db, user, "water the plants")
	unknownPosition := insertUnknownEvent(t, db, user, taskID)
	held := appendEvents(t, db, user, events.TaskStream(taskID), events.TaskCompleted{TaskID: taskID})
	waitForParked(t, db, projections.Tasks, 2)
	projector.Stop()
	waitForVisibleLog(t, db)

	result, err := projections.Rebuild(ctx, db, projections.RebuildConfig{
		Projections: []string{projections.Tasks}, Logger: log.Logger()})
	require.NoError(t, err)
	require.Len(t, result.Projections, 1)
	parked := result.Projections[0].Parked
	require.Len(t, parked, 2)
	require.Equal(t, unknownPosition, parked[0].Position)
	require.Equal(t, user, parked[0].UserID)
	require.Contains(t, parked[0].Error, "unknown event type")
	require.False(t, parked[0].Held)
	require.Equal(t, held.LastPosition(), parked[1].Position)
	require.True(t, parked[1].Held)

	stored, err := projections.ListParked(ctx, db, projections.Tasks)
	require.NoError(t, err)
	require.Len(t, stored, 2)
	require.Equal(t, unknownPosition, stored[0].Position)
	require.Equal(t, 1, stored[0].Attempts, "the rebuild's attempt replaces the projector's")
	task, err := projections.GetTask(ctx, db, user, taskID)
	require.NoError(t, err)
	require.False(t, task.Completed, "the held completion waits behind the parked event")
}

func TestRebuildDuringLiveLoad(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))

	const writers = 4
	stop := make(chan struct{})
	lastResults := make([]events.AppendResult, writers)
	failures := make(chan error, writers)
	for w := range writers {
		go func() {
			user := newUser()
			conversation := nextID()
			_, err := events.Append(ctx, db, events.AppendRequest{UserID: user,
				Stream: events.ConversationStream(conversation), ExpectedVersion: events.AnyVersion,
				Events: []events.Event{events.ConversationStarted{ConversationID: conversation}}})
			for i := 0; err == nil; i++ {
				select {
				case <-stop:
					failures <- nil
					return
				case <-time.After(2 * time.Millisecond):
				}
				var result events.AppendResult
				if i%2 == 0 {
					id := nextID()
					result, err = events.Append(ctx, db, events.AppendRequest{UserID: user, Stream: events.TaskStream(id),
						ExpectedVersion: events.AnyVersion, Events: []events.Event{events.TaskAdded{TaskID: id, Title: "buy bread"}}})
				} else {
					result, err = events.Append(ctx, db, events.AppendRequest{UserID: user,
						Stream: events.ConversationStream(conversation), ExpectedVersion: events.AnyVersion,
						Events: []events.Event{events.MessageAppended{ConversationID: conversation, MessageID: nextID(),
							Role: "user", Content: fmt.Sprintf("message %d", i)}}})
				}
				lastResults[w] = result
			}
			failures <- err
		}()
	}

	rebuilds := 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); rebuilds++ {
		result, err := projections.Rebuild(ctx, db, projections.RebuildConfig{Logger: log.Logger()})
		require.NoError(t, err)
		require.Len(t, result.Projections, 2)
	}
	close(stop)
	for range writers {
		require.NoError(t, <-failures)
	}
	for _, result := range lastResults {
		waitFor(t, db, result)
	}
	projector.Stop()
	t.Logf("%d rebuilds during the load", rebuilds)

	for _, stats := range projector.Stats() {
		require.Zero(t, stats.AlreadyApplied, "projector found events of %s already applied: %+v", stats.Projection, stats)
		require.Zero(t, stats.Parked, stats.Projection)
	}
	requireFreshProjection(t, db)
}

func TestRebuildLeavesOpenTransactionToProjector(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	projector := startProjector(t, db, fastConfig(log))
	user := newUser()
	_, first := addTask(t, db, user, "call the plumber")
	waitFor(t, db, first)

	open, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer open.Rollback()
	openTaskID, openResult := addTask(t, open, user, "written in the open transaction")
	laterTaskID, laterResult := addTask(t, db, newUser(), "committed after the open transaction began")

	result, err := projections.Rebuild(ctx, db, projections.RebuildConfig{Logger: log.Logger()})
	require.NoError(t, err)
	for _, rebuilt := range result.Projections {
		require.LessOrEqual(t, rebuilt.Bound, openResult.TransactionID, rebuilt.Projection)
		require.Less(t, rebuilt.Checkpoint.TransactionID, openResult.TransactionID, rebuilt.Projection)
	}

	require.NoError(t, open.Commit())
	waitFor(t, db, openResult)
	waitFor(t, db, laterResult)
	projector.Stop()
	for _, id := range []int64{openTaskID, laterTaskID} {
		var count, version int
		require.NoError(t, db.QueryRow(`SELECT count(*), coalesce(max(stream_version), 0) FROM tasks WHERE id = $1`, id).
			Scan(&count, &version))
		require.Equal(t, 1, count, "task %d", id)
		require.Equal(t, 1, version, "task %d", id)
	}
	for _, stats := range projector.Stats() {
		require.Zero(t, stats.AlreadyApplied, stats.Projection)
	}
	requireFreshProjection(t, db)
}

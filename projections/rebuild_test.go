package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
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

package replay_test

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/replay"
)

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// writeHistory gives user a task that is added, renamed, completed, and a
// second task that is added and deleted, then a conversation of two
// messages: 8 events, one minute apart.
func writeHistory(t *testing.T, db *sql.DB, user string) {
	t.Helper()
	at := start
	write := func(stream events.Stream, evs ...events.Event) {
		at = at.Add(time.Minute)
		_, err := events.Append(context.Background(), db, events.AppendRequest{
			UserID: user, Stream: stream, ExpectedVersion: events.AnyVersion, OccurredAt: at, Events: evs,
		})
		require.NoError(t, err)
	}
	renamed := "buy oat milk"
	write(events.TaskStream(1), events.TaskAdded{TaskID: 1, Title: "buy milk"})
	write(events.TaskStream(1), events.TaskUpdated{TaskID: 1, Title: &renamed})
	write(events.TaskStream(2), events.TaskAdded{TaskID: 2, Title: "call the bank", Description: "before noon"})
	write(events.TaskStream(1), events.TaskCompleted{TaskID: 1})
	write(events.TaskStream(2), events.TaskDeleted{TaskID: 2})
	write(events.ConversationStream(5), events.ConversationStarted{ConversationID: 5},
		events.MessageAppended{ConversationID: 5, MessageID: 10, Role: "user", Content: "hi \"there\"\n’é"})
	write(events.ConversationStream(5), events.MessageAppended{ConversationID: 5, MessageID: 11, Role: "assistant", Content: "hello"})
}

func newUser() string { return "r-" + uuid.NewString()[:12] }

func TestStateAtPoints(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	user := newUser()
	writeHistory(t, db, user)
	ctx := context.Background()

	final, err := replay.StateAt(ctx, db, user, replay.Point{})
	require.NoError(t, err)
	require.Equal(t, int64(8), final.Sequence)
	require.Len(t, final.Tasks, 1)
	require.Equal(t, "buy oat milk", final.Tasks[0].Title)
	require.True(t, final.Tasks[0].Completed)
	require.Len(t, final.Conversations, 1)
	require.Len(t, final.Conversations[0].Messages, 2)
	require.Equal(t, "hi \"there\"\n’é", final.Conversations[0].Messages[0].Content)

	upTo3, err := replay.StateAt(ctx, db, user, replay.Point{UpTo: 3})
	require.NoError(t, err)
	require.Len(t, upTo3.Tasks, 2)
	require.False(t, upTo3.Tasks[0].Completed)
	require.Equal(t, "before noon", upTo3.Tasks[1].Description)
	require.Empty(t, upTo3.Conversations)

	// Until is inclusive: the fourth event occurred at start + 4 minutes.
	until, err := replay.StateAt(ctx, db, user, replay.Point{Until: start.Add(4 * time.Minute)})
	require.NoError(t, err)
	require.Equal(t, int64(4), until.Sequence)
	require.True(t, until.Tasks[0].Completed)
	require.Len(t, until.Tasks, 2)
}

func TestExportVerifiesOffline(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	user := newUser()
	writeHistory(t, db, user)
	ctx := context.Background()

	var export bytes.Buffer
	head, err := replay.Export(ctx, db, user, &export)
	require.NoError(t, err)
	require.Equal(t, int64(8), head.Events)
	lines := strings.Split(strings.TrimSpace(export.String()), "\n")
	require.Len(t, lines, 9)
	require.Contains(t, lines[8], `"chain_head"`)

	verified, err := replay.VerifyExport(strings.NewReader(export.String()))
	require.NoError(t, err)
	require.Equal(t, head, verified)

	altered := strings.Replace(export.String(), "buy oat milk", "buy cow milk", 1)
	_, err = replay.VerifyExport(strings.NewReader(altered))
	var broken *events.BrokenChainError
	require.ErrorAs(t, err, &broken)
	require.Equal(t, int64(2), broken.UserSequence)

	// Dropping the last event but keeping the head is caught, and so is a
	// missing head.
	withoutLast := strings.Join(append(lines[:7:7], lines[8]), "\n")
	_, err = replay.VerifyExport(strings.NewReader(withoutLast))
	require.ErrorContains(t, err, "chain head records 8")
	_, err = replay.VerifyExport(strings.NewReader(strings.Join(lines[:8], "\n")))
	require.ErrorContains(t, err, "no chain head")
	removedMiddle := strings.Join(append(append([]string{}, lines[:3]...), lines[4:]...), "\n")
	_, err = replay.VerifyExport(strings.NewReader(removedMiddle))
	require.ErrorAs(t, err, &broken)
}

func TestVerifyDetectsRewrites(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, databaseURL)
	user := newUser()
	writeHistory(t, db, user)
	ctx := context.Background()

	head, err := replay.Verify(ctx, db, user)
	require.NoError(t, err)
	var export bytes.Buffer
	recorded, err := replay.Export(ctx, db, user, &export)
	require.NoError(t, err)
	require.Equal(t, head, recorded)

	// More events later still contain the recorded head.
	_, err = events.Append(ctx, db, events.AppendRequest{UserID: user, Stream: events.TaskStream(3),
		Events: []events.Event{events.TaskAdded{TaskID: 3, Title: "later"}}})
	require.NoError(t, err)
	_, err = replay.VerifyAgainst(ctx, db, recorded)
	require.NoError(t, err)

	// Removing the newest event with the guard disabled: the chain that is
	// left verifies link by link, but the head row shows the loss.
	_, err = db.Exec(`ALTER TABLE events DISABLE TRIGGER events_append_only`)
	require.NoError(t, err)
	_, err = db.Exec(`DELETE FROM events WHERE user_id = $1 AND user_sequence = 9`, user)
	require.NoError(t, err)
	_, err = replay.Verify(ctx, db, user)
	require.ErrorIs(t, err, replay.ErrHeadMismatch)

	_, err = db.Exec(`UPDATE events SET payload = '{"task_id": 1, "title": "rewritten"}' WHERE user_id = $1 AND user_sequence = 1`, user)
	require.NoError(t, err)
	_, err = db.Exec(`ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only`)
	require.NoError(t, err)
	_, err = replay.VerifyAgainst(ctx, db, recorded)
	var broken *events.BrokenChainError
	require.ErrorAs(t, err, &broken)
	require.Equal(t, int64(1), broken.UserSequence)

	var users []string
	require.NoError(t, replay.Users(ctx, db, func(u string) error { users = append(users, u); return nil }))
	require.Equal(t, []string{user}, users)
}

package events_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestReadAllWaitsForOpenTransaction(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, databaseURL)
	ctx := context.Background()

	// The slow transaction takes the lower position but commits last.
	slow, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer slow.Rollback()
	slowResult, err := events.Append(ctx, slow, events.AppendRequest{
		UserID: "slow-user", Stream: events.TaskStream(1), Events: []events.Event{addTask(1, "slow")},
	})
	require.NoError(t, err)
	fastResult, err := events.Append(ctx, db, events.AppendRequest{
		UserID: "fast-user", Stream: events.TaskStream(2), Events: []events.Event{addTask(2, "fast")},
	})
	require.NoError(t, err)
	require.Less(t, slowResult.LastPosition(), fastResult.LastPosition())

	readAll := func(after events.Cursor) []events.Record {
		var records []events.Record
		for r, err := range events.ReadAll(ctx, db, after) {
			require.NoError(t, err)
			records = append(records, r)
		}
		return records
	}
	// Nothing above the open transaction is read, so a reader cannot move
	// its cursor past the slow event.
	require.Empty(t, readAll(events.Cursor{}))

	require.NoError(t, slow.Commit())
	records := readAll(events.Cursor{})
	require.Len(t, records, 2)
	require.Equal(t, "slow-user", records[0].UserID)
	require.Equal(t, "fast-user", records[1].UserID)
	require.Empty(t, readAll(events.CursorOf(records[1])))
}

func TestReadUserPagesThroughLongHistory(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)
	const total = 1234
	batch := make([]events.Event, 0, 100)
	for i := 1; i <= total; i++ {
		batch = append(batch, events.MessageAppended{ConversationID: 1, MessageID: int64(i), Role: "user", Content: "m"})
		if len(batch) == cap(batch) || i == total {
			_, err := events.Append(ctx, db, events.AppendRequest{
				UserID: user, Stream: events.ConversationStream(1), ExpectedVersion: events.AnyVersion, Events: batch,
			})
			require.NoError(t, err)
			batch = batch[:0]
		}
	}

	var sequence int64
	for r, err := range events.ReadUser(ctx, db, user, 0) {
		require.NoError(t, err)
		sequence++
		require.Equal(t, sequence, r.UserSequence)
	}
	require.Equal(t, int64(total), sequence)

	var fromVersion []int
	for r, err := range events.ReadStream(ctx, db, user, events.ConversationStream(1), 1200) {
		require.NoError(t, err)
		fromVersion = append(fromVersion, r.StreamVersion)
	}
	require.Len(t, fromVersion, total-1200)
	require.Equal(t, 1201, fromVersion[0])
}

func TestCodecUpcastsOlderVersions(t *testing.T) {
	t.Parallel()
	codec := events.NewCodec()
	codec.Register(events.TaskAdded{}, 2)
	// Version 1 called the title "name".
	codec.RegisterUpcaster(events.TypeTaskAdded, 1, func(payload json.RawMessage) (json.RawMessage, error) {
		var old map[string]any
		if err := json.Unmarshal(payload, &old); err != nil {
			return nil, err
		}
		old["title"] = old["name"]
		delete(old, "name")
		return json.Marshal(old)
	})

	event, err := codec.Decode(events.TypeTaskAdded, 1, json.RawMessage(`{"task_id": 4, "name": "tea", "description": ""}`))
	require.NoError(t, err)
	require.Equal(t, events.TaskAdded{TaskID: 4, Title: "tea"}, event)

	_, err = codec.Decode(events.TypeTaskAdded, 3, json.RawMessage(`{}`))
	require.ErrorContains(t, err, "newer than this binary")
	_, err = codec.Decode("TaskRenamed", 1, json.RawMessage(`{}`))
	require.ErrorIs(t, err, events.ErrUnknownEventType)
	_, err = codec.Decode(events.TypeTaskAdded, 2, json.RawMessage(`{"task_id": 4, "title": "x", "colour": "red"}`))
	require.ErrorContains(t, err, "unknown field")
}

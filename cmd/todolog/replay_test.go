package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestReplayAndVerifyCommands(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, databaseURL)
	env := []string{"DATABASE_URL=" + databaseURL}
	ctx := context.Background()
	for id := int64(1); id <= 3; id++ {
		_, err := events.Append(ctx, db, events.AppendRequest{UserID: "dana", Stream: events.TaskStream(id),
			Events: []events.Event{events.TaskAdded{TaskID: id, Title: "task"}, events.TaskCompleted{TaskID: id}}})
		require.NoError(t, err)
	}

	history := todolog(t, env, "replay", "--user", "dana")
	require.Equal(t, 0, history.code, history.stderr)
	export := filepath.Join(t.TempDir(), "dana.jsonl")
	require.NoError(t, os.WriteFile(export, []byte(history.stdout), 0o600))

	offline := todolog(t, nil, "verify", "--export", export)
	require.Equal(t, 0, offline.code, offline.stdout)
	require.Contains(t, offline.stdout, "6 events")
	against := todolog(t, env, "verify", "--user", "dana", "--against", export)
	require.Equal(t, 0, against.code, against.stdout)
	all := todolog(t, env, "verify", "--all")
	require.Equal(t, 0, all.code, all.stdout)
	require.Contains(t, all.stdout, "1 users, 6 events")

	state := todolog(t, env, "replay", "--user", "dana", "--upto", "3", "--format", "table")
	require.Equal(t, 0, state.code, state.stderr)
	require.Contains(t, state.stdout, "as of sequence 3")
	table := todolog(t, env, "replay", "--user", "dana", "--format", "table")
	require.Contains(t, table.stdout, "TaskCompleted")

	_, err := db.Exec(`ALTER TABLE events DISABLE TRIGGER events_append_only`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE events SET payload = '{"task_id": 2, "title": "forged", "description": ""}' WHERE user_sequence = 3`)
	require.NoError(t, err)
	broken := todolog(t, env, "verify", "--all")
	require.Equal(t, 1, broken.code)
	require.Contains(t, broken.stdout, "FAILED user dana")
	require.Contains(t, broken.stdout, "sequence 3")

	require.Equal(t, 2, todolog(t, env, "verify").code)
	require.Equal(t, 2, todolog(t, env, "replay", "--user", "bad user").code)
	require.Equal(t, 2, todolog(t, env, "replay", "--user", "dana", "--until", "yesterday").code)
}

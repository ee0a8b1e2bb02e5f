package migrations

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAdviceForUnfinishedStep(t *testing.T) {
	m := &Migrator{fsys: files}
	list, err := ListFiles(files)
	require.NoError(t, err)
	m.files = list
	m.versions = versions(list)

	advice := m.advise(Status{Version: 3, Dirty: true, LastStep: &Step{
		Direction: "up", FromVersion: 2, ToVersion: 3, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}})
	require.Contains(t, advice, "never finished")
	require.Contains(t, advice, "still at version 2")
	require.Contains(t, advice, "todolog migrate force 2")

	advice = m.advise(Status{Version: 2, Dirty: true, LastStep: &Step{
		Direction: "down", FromVersion: 3, ToVersion: 2, Error: "boom",
	}})
	require.Contains(t, advice, "boom")
	require.Contains(t, advice, "todolog migrate force 3")

	advice = m.advise(Status{Version: 5, Dirty: true})
	require.Contains(t, advice, "does not record it")
}

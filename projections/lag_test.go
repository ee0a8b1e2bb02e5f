package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/projections"
)

func TestReadLagCountsPendingEvents(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	ctx := context.Background()
	user := newUser()
	addTask(t, db, user, "one")
	_, last := addTask(t, db, user, "two")

	lags, err := projections.ReadLag(ctx, db)
	require.NoError(t, err)
	require.Len(t, lags, 2)
	for _, lag := range lags {
		require.Equal(t, int64(2), lag.Events, lag.Projection)
		require.Zero(t, lag.Checkpoint, lag.Projection)
		require.Greater(t, lag.Behind, time.Duration(0), lag.Projection)
	}

	startProjector(t, db, fastConfig(log))
	waitFor(t, db, last)
	lags, err = projections.ReadLag(ctx, db)
	require.NoError(t, err)
	for _, lag := range lags {
		require.Zero(t, lag.Events, lag.Projection)
		require.Zero(t, lag.Behind, lag.Projection)
		require.Equal(t, cursorOf(last), lag.Checkpoint, lag.Projection)
	}
}

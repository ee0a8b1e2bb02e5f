package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

func TestWaitForTimesOut(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	_, result := addTask(t, db, newUser(), "nobody projects this")

	start := time.Now()
	err := projections.WaitFor(context.Background(), db, result.UserID, cursorOf(result), 200*time.Millisecond)
	require.ErrorIs(t, err, projections.ErrWaitTimeout)
	require.ErrorContains(t, err, "tasks, conversations")
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestWaitForStopsWithContext(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	_, result := addTask(t, db, newUser(), "nobody projects this")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	err := projections.WaitFor(ctx, db, result.UserID, cursorOf(result), time.Minute)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestWaitForZeroCursorReturnsAtOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())

	require.NoError(t, projections.WaitFor(context.Background(), db, "someone", events.Cursor{}, 0))
}

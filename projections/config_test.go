package projections_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := projections.Config{
		Projections:   []string{"tasks", "tasks", "invoices"},
		PollInterval:  -time.Second,
		RetryInterval: 0,
		BatchSize:     0,
		MaxAttempts:   1000,
		AttemptDelay:  -1,
		AckDeadline:   time.Second,
	}.Validate()
	require.ErrorIs(t, err, projections.ErrUnknownProjection)
	for _, problem := range []string{
		`"tasks" is listed twice`, `"invoices"`, "poll interval", "retry interval", "batch size",
		"max attempts", "attempt delay",
	} {
		require.ErrorContains(t, err, problem)
	}
}

func TestConfigValidateRejectsShortAckDeadline(t *testing.T) {
	err := projections.Config{
		Projections: projections.Names(), PollInterval: time.Second, RetryInterval: time.Second,
		BatchSize: 1, MaxAttempts: 5, AttemptDelay: time.Second, AckDeadline: 3 * time.Second,
	}.Validate()
	require.ErrorContains(t, err, "ack deadline")
}

func TestNewFillsDefaults(t *testing.T) {
	projector, err := projections.New(pgtest.Open(t, pgtest.URL()), projections.Config{})
	require.NoError(t, err)
	stats := projector.Stats()
	require.Len(t, stats, len(projections.Names()))
	require.Equal(t, projections.Tasks, stats[0].Projection)

	_, err = projections.New(nil, projections.Config{})
	require.Error(t, err)
	_, err = projections.New(pgtest.Open(t, pgtest.URL()), projections.Config{BatchSize: -1})
	require.ErrorContains(t, err, "batch size")
}

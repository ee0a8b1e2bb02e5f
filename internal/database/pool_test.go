package database_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestWithConnectTimeout(t *testing.T) {
	cases := map[string]string{
		"postgres://u@h/db":                             "postgres://u@h/db?binary_parameters=yes&connect_timeout=10",
		"postgres://u@h/db?sslmode=require":             "postgres://u@h/db?binary_parameters=yes&connect_timeout=10&sslmode=require",
		"postgresql://u@h/db?connect_timeout=30":        "postgresql://u@h/db?binary_parameters=yes&connect_timeout=30",
		"postgres://u@h/db?binary_parameters=no":        "postgres://u@h/db?binary_parameters=no&connect_timeout=10",
		"host=localhost dbname=todolog sslmode=disable": "host=localhost dbname=todolog sslmode=disable",
	}
	for input, want := range cases {
		got, err := database.WithConnectTimeout(input)
		require.NoError(t, err)
		require.Equal(t, want, got, input)
	}
}

func TestOpenAppliesPoolSettings(t *testing.T) {
	db, err := database.Open(context.Background(), pgtest.URL(), database.PoolConfig{MaxOpen: 3, MaxIdle: 1})
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, 3, db.Stats().MaxOpenConnections)
}

func TestPoolConfigReportsEveryProblem(t *testing.T) {
	err := database.PoolConfig{MaxOpen: -1, MaxIdle: -2, MaxIdleTime: -1}.Validate()
	require.ErrorContains(t, err, "maximum open connections")
	require.ErrorContains(t, err, "maximum idle connections")
	require.ErrorContains(t, err, "lifetimes")

	_, err = database.Open(context.Background(), pgtest.URL(), database.PoolConfig{MaxOpen: 2, MaxIdle: 5})
	require.ErrorContains(t, err, "exceed")
}

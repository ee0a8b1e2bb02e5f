package migrations_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/migrations"
)

// Through PgBouncer in transaction mode (TODOLOG_TEST_PGBOUNCER=1, which CI
// runs as well) a migrator is rejected with advice; on the server itself it
// is not.
func TestMigratorRejectsPooler(t *testing.T) {
	t.Parallel()
	databaseURL := pgtest.NewDatabase(t, false)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	m, err := migrations.New(context.Background(), migrations.Config{URL: databaseURL, Logger: logger})
	if pgtest.Pooled() {
		require.ErrorIs(t, err, migrations.ErrPooled)
		require.ErrorContains(t, err, "MIGRATE_DATABASE_URL")
		require.Nil(t, m)
	} else {
		require.NoError(t, err)
		require.NoError(t, m.Close())
	}

	direct, err := migrations.New(context.Background(), migrations.Config{URL: pgtest.DirectURL(databaseURL), Logger: logger})
	require.NoError(t, err)
	require.NoError(t, direct.Close())
}

package events_test

import (
	"context"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// A broken query is reported as the query's failure, not the role
// switch's, although PostgreSQL rejects it before running the switch.
func TestQueryAsUserNamesQueryError(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())

	_, err := events.QueryAsUser(context.Background(), db, "someone", `SELEC 1`)
	require.ErrorContains(t, err, "running a query scoped to user someone")
	require.NotContains(t, err.Error(), "switching the transaction")
}

// A login that is not a member of the application role gets an error that
// names the role and the GRANT to run.
func TestQueryAsUserExplainsMissingMembership(t *testing.T) {
	t.Parallel()
	owner := pgtest.Open(t, pgtest.URL())
	role := "todolog_scope_test_" + newUser(t)[2:10]
	_, err := owner.Exec(`CREATE ROLE ` + pq.QuoteIdentifier(role) + ` LOGIN`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = owner.Exec(`DROP ROLE ` + pq.QuoteIdentifier(role)) })
	db := pgtest.Open(t, asRole(t, pgtest.URL(), role))

	_, err = events.QueryAsUser(context.Background(), db, "someone", `SELECT 1`)
	require.ErrorContains(t, err, "switching the transaction to role todolog_app")
	require.ErrorContains(t, err, "GRANT todolog_app TO")
}

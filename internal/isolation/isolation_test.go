package isolation_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// On the application role, acting for user a with user b's ids through raw
// SQL, the Go API and HTTP reaches none of b's rows and changes none. With
// no user set, no row is visible at all.
func TestUserCannotReachAnotherUsersRows(t *testing.T) {
	w := newWorld(t, pgtest.URL())
	require.Empty(t, w.leaks(t))
}

// The check above can fail: with one table's policy replaced by one that
// ignores the user, a common mistake, it reports the leak.
func TestIsolationCheckReportsALeak(t *testing.T) {
	w := newWorld(t, pgtest.NewDatabase(t, true))
	_, err := w.owner.Exec(`DROP POLICY tasks_user_rows ON tasks`)
	require.NoError(t, err)
	_, err = w.owner.Exec(`CREATE POLICY tasks_every_user ON tasks TO ` + events.AppRole + ` USING (true)`)
	require.NoError(t, err)

	leaks := w.leaks(t)
	t.Logf("the isolation check reports:\n%s", strings.Join(leaks, "\n"))
	require.NotEmpty(t, leaks)
	joined := strings.Join(leaks, "\n")
	require.Contains(t, joined, "with no user set, tasks shows")
	require.Contains(t, joined, "tasks shows 1 rows of other users")
	require.NotContains(t, joined, "messages shows", "only the tasks table was opened")
}

// The application role cannot read past row-level security, and every
// table with user rows has it enabled and forced.
func TestRolesAndRowLevelSecurity(t *testing.T) {
	w := newWorld(t, pgtest.URL())

	for _, role := range []string{events.AppRole, events.OperatorRole} {
		var super, bypass, createRole, createDB, login bool
		require.NoError(t, w.owner.QueryRow(`SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin
			FROM pg_roles WHERE rolname = $1`, role).Scan(&super, &bypass, &createRole, &createDB, &login))
		require.False(t, super, "%s must not be a superuser", role)
		require.False(t, bypass, "%s must not have BYPASSRLS", role)
		require.False(t, createRole || createDB, "%s must not create roles or databases", role)
		require.False(t, login, "%s is switched to, never logged in as", role)

		var owned int
		require.NoError(t, w.owner.QueryRow(`SELECT count(*) FROM pg_class
			WHERE relowner = $1::regrole AND relnamespace = current_schema()::regnamespace`, role).Scan(&owned))
		require.Zero(t, owned, "%s must own no table, sequence or index", role)
	}
	var appIsOperator bool
	require.NoError(t, w.owner.QueryRow(`SELECT pg_has_role($1, $2, 'MEMBER')`, events.AppRole, events.OperatorRole).
		Scan(&appIsOperator))
	require.False(t, appIsOperator, "the application role must not be a member of the operator role")

	// The login the tests use as the application role has nothing more.
	var super, bypass, ownsDatabase bool
	require.NoError(t, w.app.QueryRow(`SELECT r.rolsuper, r.rolbypassrls,
		       (SELECT datdba = r.oid FROM pg_database WHERE datname = current_database())
		  FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &bypass, &ownsDatabase))
	require.False(t, super || bypass || ownsDatabase)

	for _, table := range userScopedTables(t, w.owner, true) {
		var enabled, forced bool
		require.NoError(t, w.owner.QueryRow(`SELECT relrowsecurity, relforcerowsecurity FROM pg_class
			WHERE oid = to_regclass($1)`, table).Scan(&enabled, &forced))
		require.True(t, enabled, "row-level security must be enabled on %s", table)
		require.True(t, forced, "row-level security must be forced on %s", table)
	}
}

package events_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// asRole returns a URL for databaseURL that logs in as role. Test clusters
// trust loopback logins; on an external server the role needs a password.
func asRole(t *testing.T, databaseURL, role string) string {
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	u.User = url.User(role)
	return u.String()
}

func TestLogRejectsUpdateDeleteTruncate(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	owner := pgtest.Open(t, databaseURL)
	ctx := context.Background()
	user := newUser(t)
	_, err := events.Append(ctx, owner, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(1), Events: []events.Event{addTask(1, "keep me")},
	})
	require.NoError(t, err)

	// A role with every table privilege, as a careless grant would give the
	// service, must be stopped by the triggers all the same. It is a member
	// of the operator role, so row-level security lets it see every row and
	// only the triggers stand in its way.
	role := "todolog_guard_test_" + user[2:10]
	_, err = owner.Exec(`CREATE ROLE ` + pq.QuoteIdentifier(role) + ` LOGIN`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = owner.Exec(`DROP OWNED BY ` + pq.QuoteIdentifier(role))
		_, _ = owner.Exec(`DROP ROLE ` + pq.QuoteIdentifier(role))
	})
	_, err = owner.Exec(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ` + pq.QuoteIdentifier(role))
	require.NoError(t, err)
	_, err = owner.Exec(`GRANT ` + events.OperatorRole + ` TO ` + pq.QuoteIdentifier(role))
	require.NoError(t, err)
	service := pgtest.Open(t, asRole(t, databaseURL, role))

	var partition string
	require.NoError(t, owner.QueryRow(`SELECT tableoid::regclass::text FROM events WHERE user_id = $1`, user).Scan(&partition))

	statements := []string{
		`UPDATE events SET payload = '{"title": "changed"}'`,
		`DELETE FROM events`,
		`TRUNCATE events`,
		`UPDATE ` + partition + ` SET payload = '{}'`,
		`DELETE FROM ` + partition,
		`TRUNCATE ` + partition,
	}
	for name, db := range map[string]*sql.DB{"owner": owner, "service role": service} {
		for _, statement := range statements {
			_, err := db.Exec(statement)
			require.Error(t, err, "%s: %s", name, statement)
			require.Contains(t, err.Error(), "append-only", "%s: %s", name, statement)
		}
	}

	// session_replication_role = replica skips ordinary triggers, but the
	// guard is enabled ALWAYS.
	tx, err := owner.Begin()
	require.NoError(t, err)
	_, err = tx.Exec(`SET LOCAL session_replication_role = replica`)
	require.NoError(t, err)
	_, err = tx.Exec(`DELETE FROM events`)
	require.ErrorContains(t, err, "append-only")
	require.NoError(t, tx.Rollback())

	require.Equal(t, 1, countEvents(t, owner, user))
}

func TestGuardCanBeDisabledDeliberately(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, databaseURL)
	ctx := context.Background()
	user := newUser(t)
	_, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(1), Events: []events.Event{addTask(1, "original")},
	})
	require.NoError(t, err)

	_, err = db.Exec(`ALTER TABLE events DISABLE TRIGGER events_append_only`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE events SET payload = '{"task_id": 1, "title": "rewritten", "description": ""}' WHERE user_id = $1`, user)
	require.NoError(t, err)
	_, err = db.Exec(`ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only`)
	require.NoError(t, err)

	// The rewrite is visible to an auditor: the chain no longer verifies.
	verifier := events.ChainVerifier{UserID: user}
	for r, err := range events.ReadUser(ctx, db, user, 0) {
		require.NoError(t, err)
		err = verifier.Add(r)
		var broken *events.BrokenChainError
		require.ErrorAs(t, err, &broken)
		require.Equal(t, int64(1), broken.UserSequence)
	}

	_, err = db.Exec(`DELETE FROM events`)
	require.ErrorContains(t, err, "append-only")
}

package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

// runDemoBinary runs `todolog demo` on databaseURL with a small generated
// trace and extra arguments.
func runDemoBinary(t *testing.T, databaseURL string, args ...string) result {
	t.Helper()
	return todolog(t, []string{"DATABASE_URL=" + databaseURL},
		append([]string{"demo", "--trace-users", "4", "--users", "2", "--no-progress"}, args...)...)
}

// requireCount checks one row of the demo's table: label, then the count of
// this run and of the database.
func requireCount(t *testing.T, stdout, label, thisRun, database string) {
	t.Helper()
	pattern := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + `\s+` + regexp.QuoteMeta(thisRun) + `\s+` + regexp.QuoteMeta(database) + `$`)
	require.Regexp(t, pattern, stdout)
}

// The demo migrates an empty database, replays, passes its checks, and a
// second run adds new users beside the first run's.
func TestDemoRunsTwiceOnOneDatabase(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, false)

	first := runDemoBinary(t, databaseURL, "--run", "first")
	require.Equal(t, 0, first.code)
	require.Equal(t, 3, strings.Count(first.stdout, "PASS"))
	require.NotContains(t, first.stdout, "FAIL")
	requireCount(t, first.stdout, "users", "4", "4")
	require.Contains(t, first.stdout, "commands/s")
	require.Contains(t, first.stdout, "projection lag")

	second := runDemoBinary(t, databaseURL, "--run", "second", "--transport", "http")
	require.Equal(t, 0, second.code)
	require.Equal(t, 3, strings.Count(second.stdout, "PASS"))
	requireCount(t, second.stdout, "users", "4", "8")
	require.Contains(t, second.stdout, "over HTTP")

	// Repeating a run id resumes that run: every command is a duplicate.
	again := runDemoBinary(t, databaseURL, "--run", "first")
	require.Equal(t, 0, again.code)
	requireCount(t, again.stdout, "users", "4", "8")
	require.Contains(t, again.stdout, "duplicates of an earlier run")
}

func TestDemoRejectsBadFlags(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, false)
	for name, args := range map[string][]string{
		"unknown transport":   {"--transport", "pigeon"},
		"no trace users":      {"--trace-users", "0"},
		"unknown sample user": {"--sample-user", "user-9999"},
		"run id with a space": {"--run", "two words"},
	} {
		r := runDemoBinary(t, databaseURL, args...)
		require.Equal(t, 2, r.code, name)
		require.NotEmpty(t, r.stderr, name)
	}
	missing := runDemoBinary(t, databaseURL, "--trace", "/nonexistent/trace.jsonl")
	require.Equal(t, 1, missing.code)
	require.Contains(t, missing.stderr, "/nonexistent/trace.jsonl")
}

// Each check fails, naming the difference, once the read tables or the log
// no longer agree.
func TestDemoChecksDetectTampering(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, false)
	require.Equal(t, 0, runDemoBinary(t, databaseURL, "--run", "tamper").code)
	db := pgtest.Open(t, databaseURL)
	ctx := context.Background()

	var user string
	var taskID int64
	require.NoError(t, db.QueryRow(`SELECT user_id, id FROM tasks ORDER BY id LIMIT 1`).Scan(&user, &taskID))
	require.True(t, checkFreshProjection(ctx, db).passed)
	require.True(t, checkSampleUser(ctx, db, user).passed)
	require.True(t, checkHashChains(ctx, db).passed)

	_, err := db.Exec(`UPDATE tasks SET title = title || ' (edited)' WHERE id = $1`, taskID)
	require.NoError(t, err)
	projection := checkFreshProjection(ctx, db)
	require.False(t, projection.passed)
	require.Contains(t, projection.summary, "tasks differs")
	sample := checkSampleUser(ctx, db, user)
	require.False(t, sample.passed)
	require.Contains(t, sample.summary, "title")

	// Rewriting an event takes disabling the log's guard, as an operator
	// would; the chain then breaks at that event.
	tx, err := db.Begin()
	require.NoError(t, err)
	for _, statement := range []string{
		`ALTER TABLE events DISABLE TRIGGER events_append_only`,
		`UPDATE events SET payload = jsonb_set(payload, '{title}', '"forged"') WHERE user_id = '` + user + `' AND event_type = 'TaskAdded'`,
		`ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only`,
	} {
		_, err := tx.Exec(statement)
		require.NoError(t, err, statement)
	}
	require.NoError(t, tx.Commit())
	chains := checkHashChains(ctx, db)
	require.False(t, chains.passed)
	require.Contains(t, chains.summary, "1 of 4 users")
}

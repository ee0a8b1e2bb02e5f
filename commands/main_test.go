package commands_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newUser returns a user id no other test uses.
func newUser() string {
	return "u-" + uuid.NewString()[:13]
}

// testLogWriter sends log lines to t.Log, so they show only for failures
// or with -v.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newHandler returns a Handler on the package's database and its pool.
func newHandler(t *testing.T) (*commands.Handler, *sql.DB) {
	t.Helper()
	db := pgtest.Open(t, pgtest.URL())
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: testLogger(t)})
	require.NoError(t, err)
	return handler, db
}

func countEvents(t *testing.T, db *sql.DB, userID string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events WHERE user_id = $1`, userID).Scan(&n))
	return n
}

// readStream returns every record of one stream.
func readStream(t *testing.T, db *sql.DB, userID string, stream events.Stream) []events.Record {
	t.Helper()
	var records []events.Record
	for record, err := range events.ReadStream(context.Background(), db, userID, stream, 0) {
		require.NoError(t, err)
		records = append(records, record)
	}
	return records
}

func ptr[T any](v T) *T { return &v }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

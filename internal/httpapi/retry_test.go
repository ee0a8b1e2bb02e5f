package httpapi_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/pgtest"
)

// lockedBuffer collects log output written from request goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newProxiedAPI serves the API on a fresh database reached through a
// faultProxy, and returns a pool that reaches the database directly. Both
// retry policies are short, so the tests stay quick.
func newProxiedAPI(t *testing.T, readinessTimeout time.Duration) (*api, *faultProxy, *sql.DB, *lockedBuffer) {
	t.Helper()
	databaseURL := pgtest.NewDatabase(t, true)
	proxy, proxiedURL := newFaultProxy(t, databaseURL)
	db := pgtest.Open(t, proxiedURL)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	quick := database.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger, Retry: quick})
	require.NoError(t, err)
	server, err := httpapi.New(httpapi.Config{
		Commands: handler, DB: db, Logger: logger,
		Auth:             httpapi.Auth{ServiceToken: serviceToken},
		QueryRetry:       quick,
		ReadinessTimeout: readinessTimeout,
	})
	require.NoError(t, err)
	ts := httptest.NewServer(server)
	t.Cleanup(ts.Close)
	return &api{t: t, server: ts, db: db}, proxy, pgtest.Open(t, databaseURL), logs
}

func retryLines(logs string) []string {
	var lines []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "retrying after a transient database error") {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestQueryRetriesLostConnection(t *testing.T) {
	t.Parallel()
	a, proxy, direct, logs := newProxiedAPI(t, 0)
	runProjector(t, &api{t: t, db: direct})
	user := newUser()
	added := a.do("POST", "/v1/users/"+user+"/tasks", map[string]any{"title": "milk"})
	require.Equal(t, http.StatusCreated, added.status, added.raw)

	// The connection drops inside the query's transaction, where
	// database/sql cannot move to another connection by itself.
	proxy.cutOn("FROM tasks WHERE user_id", 2)
	listed := a.do("GET", "/v1/users/"+user+"/tasks", nil, "Consistency-Token", added.header.Get("Consistency-Token"))
	require.Equal(t, http.StatusOK, listed.status, listed.raw)
	require.Zero(t, proxy.cutsLeft(), "both cuts happened")
	require.Len(t, listed.body["tasks"], 1)

	retries := retryLines(logs.String())
	require.Len(t, retries, 2, "one line per retry:\n%s", logs.String())
	for i, line := range retries {
		require.Contains(t, line, fmt.Sprintf("attempt=%d", i+1))
		require.Contains(t, line, "user_id="+user)
		require.Contains(t, line, "path=/v1/users/"+user+"/tasks")
		require.Contains(t, line, "delay=")
		require.Contains(t, line, "error=")
	}
}

func TestQueryGivesUpWith503(t *testing.T) {
	t.Parallel()
	a, proxy, _, logs := newProxiedAPI(t, 0)
	user := newUser()

	proxy.cutOn("FROM tasks WHERE user_id", 100)
	listed := a.do("GET", "/v1/users/"+user+"/tasks", nil)
	require.Equal(t, http.StatusServiceUnavailable, listed.status, listed.raw)
	require.Equal(t, "unavailable", listed.code())
	require.Equal(t, "1", listed.header.Get("Retry-After"))
	require.Equal(t, 96, proxy.cutsLeft(), "four attempts")
	require.Len(t, retryLines(logs.String()), 3)
}

func TestQueryReturnsOtherErrorsWithoutRetry(t *testing.T) {
	t.Parallel()
	a, _, _, logs := newProxiedAPI(t, 0)
	missing := a.do("GET", "/v1/users/"+newUser()+"/tasks/987654", nil)
	require.Equal(t, http.StatusNotFound, missing.status, missing.raw)
	require.Empty(t, retryLines(logs.String()))
}

func TestCommandRetriesLostConnection(t *testing.T) {
	t.Parallel()
	a, proxy, direct, logs := newProxiedAPI(t, 0)
	user := newUser()

	proxy.cutOn("events_append", 1)
	added := a.do("POST", "/v1/users/"+user+"/tasks", map[string]any{"title": "milk"}, "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusCreated, added.status, "%s\n%s", added.raw, logs.String())
	require.Zero(t, proxy.cutsLeft())
	require.Empty(t, added.header.Get("Idempotent-Replayed"))
	var n int
	require.NoError(t, direct.QueryRow(`SELECT count(*) FROM events WHERE user_id = $1 AND command_id = 'k-1'`, user).Scan(&n))
	require.Equal(t, 1, n)
	retries := retryLines(logs.String())
	require.Len(t, retries, 1, "the reset connection reached the Handler, which logged its retry")
	require.Contains(t, retries[0], "command_id=k-1")
	require.Contains(t, retries[0], "user_id="+user)
}

// A server that stops responding without closing the connection makes a
// ping wait for as long as TCP keeps the connection, because lib/pq cannot
// interrupt the read. /readyz still responds within its timeout.
func TestReadinessRespondsWhileDatabaseSilent(t *testing.T) {
	t.Parallel()
	a, proxy, _, logs := newProxiedAPI(t, 300*time.Millisecond)
	ready := a.do("GET", "/readyz", nil)
	require.Equal(t, http.StatusOK, ready.status, ready.raw)

	proxy.freeze()
	started := time.Now()
	silent := a.do("GET", "/readyz", nil)
	waited := time.Since(started)
	require.Equal(t, http.StatusServiceUnavailable, silent.status, silent.raw)
	require.Equal(t, "unavailable", silent.code())
	// The bound only separates a response from a hang, because the
	// response is due after 300 ms.
	require.Less(t, waited, 5*time.Second)
	t.Logf("/readyz answered %d after %s with the database silent", silent.status, waited.Round(time.Millisecond))

	// The ping is still stuck on its connection. Further probes wait for
	// it rather than open connections of their own.
	connections := proxy.acceptedCount()
	for range 3 {
		again := a.do("GET", "/readyz", nil)
		require.Equal(t, http.StatusServiceUnavailable, again.status, again.raw)
	}
	// lib/pq may open one connection to send the stuck ping's cancel
	// request, whereas a ping per probe would have opened three.
	require.LessOrEqual(t, proxy.acceptedCount(), connections+1, "no probe started a ping of its own")
	require.Contains(t, logs.String(), "no response within 300ms")

	proxy.thaw()
	require.Eventually(t, func() bool { return a.do("GET", "/readyz", nil).status == http.StatusOK },
		20*time.Second, 20*time.Millisecond, "/readyz recovers once the database answers")
}

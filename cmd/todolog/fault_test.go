package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgcluster"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/migrations"
)

// The fault tests run the real binary against a database whose
// connections they break, under a load of commands over HTTP, then check
// that every acknowledged command was written exactly once and that the
// projections caught up.

func faultUsers(prefix string, n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000, i)
	}
	return users
}

func faultServeEnv(databaseURL string) []string {
	return []string{"DATABASE_URL=" + databaseURL, "TODOLOG_SERVICE_TOKEN=" + faultServiceToken, "TODOLOG_LOG_LEVEL=warn"}
}

// waitForAcks waits until the load has at least n acknowledgements.
func waitForAcks(t *testing.T, load *commandLoad, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(load.acknowledged()) >= n }, 30*time.Second, 10*time.Millisecond,
		"the service acknowledged fewer than %d commands", n)
}

func TestFaultTerminatedConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	databaseURL := pgtest.NewDatabase(t, true)
	name := databaseName(t, databaseURL)
	// The test's own connections go to another database of the server, so
	// they are never among those terminated.
	admin := pgtest.Open(t, withApplicationName(t, pgtest.AdminURL()))
	base, _, logs := startServe(t, faultServeEnv(databaseURL), "--projection-poll-interval", "50ms")

	users := faultUsers("terminate", 6)
	load := startCommandLoad(t, base, users)
	waitForAcks(t, load, 20)

	terminated := 0
	for round := range 20 {
		time.Sleep(time.Duration(100+rand.IntN(250)) * time.Millisecond)
		var n int
		err := admin.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) `+serviceBackendsQuery, name).Scan(&n)
		require.NoError(t, err, "round %d", round)
		terminated += n
	}
	acksDuringFaults := len(load.acknowledged())
	time.Sleep(500 * time.Millisecond)
	load.stopAndWait()

	acks := load.acknowledged()
	retries := countLines(logs.String(), "retrying after a transient database error")
	require.Positive(t, terminated)
	require.Positive(t, retries, "the service retried after the terminations")
	require.Greater(t, len(acks), acksDuringFaults, "commands succeed after the last termination")
	db := pgtest.Open(t, withApplicationName(t, databaseURL))
	checkLoggedOnce(t, db, users, acks)
	waitForProjections(t, base, db, acks)

	t.Logf("terminated %d service connections in 20 rounds; %d commands acknowledged, %d requests failed and were sent again, "+
		"%d acknowledgements replayed; the service logged %d retries",
		terminated, len(acks), load.failedRequests.Load(), load.replayed.Load(), retries)
}

// startOwnCluster creates and starts a PostgreSQL cluster for one test, so
// the test may stop and start it, and returns it with the URL of a
// migrated database on it. The cluster is stopped at cleanup.
//
// NOTE: pg_ctl starts the server in the background, so a test binary that
// dies without running its cleanup (a panic on timeout) leaves the server
// running on its temporary directory.
func startOwnCluster(t *testing.T) (*pgcluster.Cluster, string) {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "todolog-fault-")
	require.NoError(t, err)
	// The server may run as the postgres user, which must enter the folder.
	require.NoError(t, os.Chmod(dir, 0o755))
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, err := pgcluster.New(ctx, pgcluster.Config{
		DataDir:  filepath.Join(dir, "data"),
		Logger:   discard,
		Settings: []string{"fsync = off", "synchronous_commit = off", "full_page_writes = off"},
	})
	require.NoError(t, err)
	require.NoError(t, cluster.Init(ctx))
	require.NoError(t, cluster.Start(ctx))
	t.Cleanup(func() {
		if err := cluster.Stop(context.Background()); err != nil {
			t.Errorf("stopping the test's cluster: %v", err)
		}
		os.RemoveAll(dir)
	})

	admin, err := sql.Open("postgres", cluster.URL("postgres"))
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.ExecContext(ctx, `CREATE DATABASE todolog`)
	require.NoError(t, err)
	databaseURL := cluster.URL("todolog")
	migrator, err := migrations.New(ctx, migrations.Config{URL: databaseURL, Logger: discard})
	require.NoError(t, err)
	defer migrator.Close()
	require.NoError(t, migrator.Up(ctx))
	return cluster, databaseURL
}

// waitAccepting polls the cluster until it accepts a login and returns
// when it first did.
func waitAccepting(t *testing.T, cluster *pgcluster.Cluster) time.Time {
	t.Helper()
	db, err := sql.Open("postgres", cluster.URL("postgres")+"&connect_timeout=1")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxIdleConns(0)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return time.Now()
		}
		require.True(t, time.Now().Before(deadline), "the cluster did not accept a login within 60s: %v", err)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFaultClusterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster, databaseURL := startOwnCluster(t)
	base, _, logs := startServe(t, faultServeEnv(databaseURL), "--projection-poll-interval", "50ms")

	users := faultUsers("restart", 6)
	load := startCommandLoad(t, base, users)
	probe := startReadyzProbe(t, base)
	waitForAcks(t, load, 20)
	beforeStop := time.Now()

	require.NoError(t, cluster.Stop(ctx))
	stopped := time.Now()
	time.Sleep(3 * time.Second)

	starting := time.Now()
	accepting := make(chan time.Time, 1)
	go func() { accepting <- waitAccepting(t, cluster) }()
	require.NoError(t, cluster.Start(ctx))
	acceptingAt := <-accepting

	var readyAt, commandAt time.Time
	require.Eventually(t, func() bool {
		for _, answer := range probe.between(starting, time.Now()) {
			if answer.status == http.StatusOK {
				readyAt = answer.at
				break
			}
		}
		var acked bool
		commandAt, acked = load.firstAckAfter(acceptingAt)
		return !readyAt.IsZero() && acked
	}, 60*time.Second, 20*time.Millisecond, "the service did not recover after the restart")
	time.Sleep(time.Second)
	load.stopAndWait()
	probe.close()

	before := probe.between(time.Time{}, beforeStop)
	down := probe.between(stopped, starting)
	require.NotEmpty(t, before)
	require.Equal(t, http.StatusOK, before[len(before)-1].status, "/readyz was true before the stop")
	require.NotEmpty(t, down)
	require.False(t, slices.ContainsFunc(down, func(a readyzAnswer) bool { return a.status == http.StatusOK }),
		"/readyz was false while the server was down: %s", statusCounts(down))

	acks := load.acknowledged()
	retries := countLines(logs.String(), "retrying after a transient database error")
	require.Positive(t, retries, "the service retried while the server was down")
	db := pgtest.Open(t, withApplicationName(t, databaseURL))
	checkLoggedOnce(t, db, users, acks)
	waitForProjections(t, base, db, acks)

	t.Logf("server down for %s (stop to start); it accepted logins %s after the start began",
		starting.Sub(stopped).Round(time.Millisecond), acceptingAt.Sub(starting).Round(time.Millisecond))
	// The test's poll and the service race to the restarted server, so a
	// negative time means the service got in first.
	t.Logf("recovery after the server accepted logins again: first 200 from /readyz after %s, first acknowledged command after %s",
		readyAt.Sub(acceptingAt).Round(time.Millisecond), commandAt.Sub(acceptingAt).Round(time.Millisecond))
	t.Logf("/readyz while down: %s; %d commands acknowledged, %d requests failed and were sent again, "+
		"%d acknowledgements replayed; the service logged %d retries",
		statusCounts(down), len(acks), load.failedRequests.Load(), load.replayed.Load(), retries)
}

func TestFaultIdleConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// maxIdle differs from database/sql's default of 2, so a flag without
	// effect would show.
	const maxIdle, maxOpen = 1, 10
	// pg_stat_activity shows the server's connections. Through PgBouncer
	// those are the pooler's, not the service's, so the service connects
	// to the server itself here in both test modes.
	databaseURL := pgtest.DirectURL(pgtest.NewDatabase(t, true))
	name := databaseName(t, databaseURL)
	admin := pgtest.Open(t, withApplicationName(t, pgtest.AdminURL()))
	// The short idle grace lets the pollers slow down soon after the load,
	// as they do after --idle-grace in production.
	base, _, _ := startServe(t, faultServeEnv(databaseURL), "--projection-poll-interval", "50ms",
		"--idle-grace", "500ms", "--idle-poll-ceiling", "1s",
		"--db-max-idle", fmt.Sprint(maxIdle), "--db-max-open", fmt.Sprint(maxOpen))

	sample := func() int {
		n, err := countServiceConnections(ctx, admin, name)
		require.NoError(t, err)
		return n
	}

	load := startCommandLoad(t, base, faultUsers("idle", 8))
	waitForAcks(t, load, 20)
	var underLoad []int
	for range 30 {
		underLoad = append(underLoad, sample())
		time.Sleep(100 * time.Millisecond)
	}
	load.stopAndWait()

	// database/sql closes a connection it gets back while maxIdle others
	// are idle, so the count falls as soon as the load stops. A sample can
	// still catch a moment above it: pollers that happen to run at once
	// open a connection more for that moment, and a closed connection's
	// backend shows until it has exited.
	time.Sleep(3 * time.Second)
	var idle []int
	atMost := 0
	for range 20 {
		n := sample()
		idle = append(idle, n)
		if n <= maxIdle {
			atMost++
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("service connections with --db-max-idle %d --db-max-open %d, sampled every 100 ms: under a load of 8 users %v "+
		"(max %d, median %d); idle %v (max %d, %d of %d samples at most %d)", maxIdle, maxOpen,
		underLoad, slices.Max(underLoad), median(underLoad), idle, slices.Max(idle), atMost, len(idle), maxIdle)
	require.Greater(t, median(underLoad), maxIdle, "the load used more connections than stay idle")
	require.LessOrEqual(t, median(idle), maxIdle)
	require.GreaterOrEqual(t, atMost, len(idle)*3/4, "most idle samples hold at most --db-max-idle connections")
}

func median(values []int) int {
	sorted := slices.Sorted(slices.Values(values))
	return sorted[len(sorted)/2]
}

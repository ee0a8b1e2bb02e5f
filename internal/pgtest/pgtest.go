// Package pgtest gives each test package a real PostgreSQL database.
//
// Main starts a throwaway cluster in a temporary directory (or uses the
// server at TODOLOG_TEST_DATABASE_URL, then DATABASE_URL, when set), creates
// a migrated template database, and stops the cluster after the tests. Each
// package gets its own database cloned from the template, so tests never
// touch a developer's data and packages never see each other's rows.
//
// With TODOLOG_TEST_PGBOUNCER=1, Main also starts PgBouncer in transaction
// pooling mode in front of the throwaway cluster, and every URL it hands out
// goes through the pooler, as the service's does behind Neon's. Creating
// databases and migrating them still use the server directly (DirectURL).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgcluster"
	"github.com/todolog/todolog/migrations"
)

var (
	adminURL    string
	templateDB  string
	packageURL  string
	createMutex sync.Mutex

	appLogin     appRole
	appLoginOnce sync.Once

	// pooler is the PgBouncer in front of the cluster, nil unless
	// TODOLOG_TEST_PGBOUNCER=1.
	pooler *pgcluster.PgBouncer
	// serverHost is the host:port of the server itself.
	serverHost string
)

// PooledEnv is the environment variable that runs the tests through
// PgBouncer in transaction pooling mode.
const PooledEnv = "TODOLOG_TEST_PGBOUNCER"

// Pooled reports whether the tests run through PgBouncer.
func Pooled() bool { return os.Getenv(PooledEnv) == "1" }

// appRole is the login AppURL connects as.
type appRole struct {
	name, password string
	err            error
}

// Main runs the package's tests against a fresh database and exits.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	stop, err := setUp(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	return code
}

func setUp(ctx context.Context) (stop func() error, err error) {
	external := os.Getenv("TODOLOG_TEST_DATABASE_URL")
	if external == "" {
		external = os.Getenv("DATABASE_URL")
	}
	var stopCluster func() error
	if external != "" {
		if Pooled() {
			return nil, fmt.Errorf("%s=1 starts PgBouncer in front of a throwaway cluster; unset DATABASE_URL and TODOLOG_TEST_DATABASE_URL, "+
				"or point them at a pooler yourself and leave %s unset", PooledEnv, PooledEnv)
		}
		adminURL = external
		stopCluster = func() error { return nil }
	} else {
		adminURL, stopCluster, err = startCluster(ctx)
		if err != nil {
			return nil, err
		}
	}
	admin, err := url.Parse(adminURL)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("invalid database URL: %w", err), stopCluster())
	}
	serverHost = admin.Host

	templateDB = "todolog_test_" + randomSuffix()
	if err := createDatabase(ctx, templateDB, ""); err != nil {
		return nil, errors.Join(err, stopCluster())
	}
	migrator, err := migrations.New(ctx, migrations.Config{
		URL:    withDatabase(adminURL, templateDB),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, errors.Join(err, stopCluster())
	}
	if err := migrator.Up(ctx); err != nil {
		migrator.Close()
		return nil, errors.Join(fmt.Errorf("migrating the template database: %w", err), stopCluster())
	}
	migrator.Close()

	packageDB := templateDB + "_pkg"
	if err := createDatabase(ctx, packageDB, templateDB); err != nil {
		return nil, errors.Join(err, stopCluster())
	}
	packageURL = withDatabase(adminURL, packageDB)

	return func() error {
		// A throwaway cluster disappears with its directory; on an external
		// server the databases must be dropped.
		if external != "" {
			dropDatabase(ctx, packageDB)
			dropDatabase(ctx, templateDB)
			dropAppLogin(ctx)
		}
		return stopCluster()
	}, nil
}

func startCluster(ctx context.Context) (string, func() error, error) {
	dir, err := os.MkdirTemp("", "todolog-pgtest-")
	if err != nil {
		return "", nil, err
	}
	// The server may run as the postgres user (when tests run as root), so
	// it must be able to enter the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", nil, err
	}
	// Durability is worthless for a throwaway cluster and costs time, but
	// benchmarks set TODOLOG_TEST_DURABLE=1 to measure real commits.
	settings := []string{"fsync = off", "synchronous_commit = off", "full_page_writes = off"}
	if os.Getenv("TODOLOG_TEST_DURABLE") == "1" {
		settings = []string{"shared_buffers = 512MB"}
	}
	if Pooled() {
		// Each database and role pair behind PgBouncer has its own pool.
		settings = append(settings, "max_connections = 300")
	}
	cluster, err := pgcluster.New(ctx, pgcluster.Config{
		DataDir: filepath.Join(dir, "data"),
		// Warnings only, such as a PgBouncer restarted after it exited.
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Settings: settings,
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err := cluster.Init(ctx); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stopServer, err := cluster.RunChild(ctx, logFile)
	if err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	stopPooler := func() error { return nil }
	if Pooled() {
		pooler, err = cluster.StartPgBouncer(ctx, filepath.Join(dir, "pgbouncer"))
		if err != nil {
			err = errors.Join(err, stopServer())
			logFile.Close()
			os.RemoveAll(dir)
			return "", nil, err
		}
		stopPooler = pooler.Stop
	}
	return cluster.URL("postgres"), func() error {
		err := errors.Join(stopPooler(), stopServer())
		logFile.Close()
		return errors.Join(err, os.RemoveAll(dir))
	}, nil
}

// URL returns the package's migrated database.
func URL() string {
	if packageURL == "" {
		panic("pgtest: call pgtest.Main from the package's TestMain")
	}
	return pooled(packageURL)
}

// pooled returns rawURL through PgBouncer when the tests run through it,
// with binary_parameters=yes as the service's pools use: lib/pq then sends
// each query with its parameters in one round trip, which a pooler in
// transaction mode needs.
func pooled(rawURL string) string {
	if pooler == nil {
		return rawURL
	}
	through, err := pooler.URL(rawURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: %v", err))
	}
	return withParameter(through, "binary_parameters", "yes")
}

// DirectURL returns rawURL, a URL from this package, pointed at the server
// itself rather than at PgBouncer, for what a transaction-mode pooler
// cannot carry, such as migrations.
func DirectURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: invalid database URL: %v", err))
	}
	u.Host = serverHost
	return u.String()
}

func withParameter(rawURL, name, value string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: invalid database URL: %v", err))
	}
	query := u.Query()
	query.Set(name, value)
	u.RawQuery = query.Encode()
	return u.String()
}

// AdminURL returns a superuser URL for the server's postgres database.
func AdminURL() string { return adminURL }

// NewDatabase creates a database for one test and drops it at cleanup. With
// migrated set it starts at the latest migration, otherwise it is empty.
func NewDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	ctx := context.Background()
	name := "todolog_test_" + randomSuffix()
	template := ""
	if migrated {
		template = templateDB
	}
	if err := createDatabase(ctx, name, template); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(ctx, name) })
	return pooled(withDatabase(adminURL, name))
}

// AppURL returns url with the login of a role that is a member of
// events.AppRole and of nothing else, so a connection through it is what
// the application role may do: no owner, superuser or operator rights.
// The role is created on first use, once per test package, and needs the
// migrations, which create events.AppRole.
func AppURL(t testing.TB, rawURL string) string {
	t.Helper()
	appLoginOnce.Do(func() { appLogin = createAppLogin(context.Background()) })
	if appLogin.err != nil {
		t.Fatal(appLogin.err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("pgtest: invalid database URL: %v", err)
	}
	u.User = url.UserPassword(appLogin.name, appLogin.password)
	return u.String()
}

func createAppLogin(ctx context.Context) appRole {
	role := appRole{name: templateDB + "_app", password: randomSuffix() + randomSuffix()}
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return appRole{err: err}
	}
	defer admin.Close()
	statement := fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD %s IN ROLE %s",
		pq.QuoteIdentifier(role.name), pq.QuoteLiteral(role.password), pq.QuoteIdentifier(events.AppRole))
	if _, err := admin.ExecContext(ctx, statement); err != nil {
		return appRole{err: fmt.Errorf("creating the application login for tests: %w", err)}
	}
	return role
}

func dropAppLogin(ctx context.Context) {
	if appLogin.name == "" {
		return
	}
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return
	}
	defer admin.Close()
	_, _ = admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+pq.QuoteIdentifier(appLogin.name))
}

// Open returns a connection pool to url, closed at cleanup. In pooled mode
// its connections send no cancel requests (noCancelDialer).
func Open(t testing.TB, url string) *sql.DB {
	t.Helper()
	var db *sql.DB
	if pooler != nil {
		connector, err := pq.NewConnector(url)
		if err != nil {
			t.Fatal(err)
		}
		connector.Dialer(noCancelDialer{})
		db = sql.OpenDB(connector)
	} else {
		var err error
		db, err = sql.Open("postgres", url)
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func createDatabase(ctx context.Context, name, template string) error {
	// CREATE DATABASE ... TEMPLATE fails while another session uses the
	// template, so clones are made one at a time.
	createMutex.Lock()
	defer createMutex.Unlock()
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	statement := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if template != "" {
		statement += " TEMPLATE " + pq.QuoteIdentifier(template)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := admin.ExecContext(ctx, statement); err != nil {
		return fmt.Errorf("creating test database %s: %w", name, err)
	}
	return nil
}

func dropDatabase(ctx context.Context, name string) {
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return
	}
	defer admin.Close()
	_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: invalid database URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}

// Package migrations holds todolog's SQL migrations, embedded in the binary,
// and the Migrator that applies them with golang-migrate.
//
// Every file runs as one multi-statement query, which PostgreSQL executes in
// a single implicit transaction, so a failed file changes nothing. A
// statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY)
// stands alone in its file. The stock migrate CLI applies the same folder:
//
//	migrate -path migrations -database "$MIGRATE_DATABASE_URL" up
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/database/postgres"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	_ "github.com/lib/pq" // registers the "postgres" driver
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// VersionTable is golang-migrate's table holding the current version.
const VersionTable = "schema_migrations"

// ErrDirty means an earlier migration step failed or was interrupted. Status
// explains which one and what to run.
var ErrDirty = errors.New("the database schema is dirty")

// Config configures a Migrator.
type Config struct {
	// URL reaches PostgreSQL directly, not through a pooler in transaction
	// mode, because golang-migrate holds a session-level advisory lock.
	URL string
	// Files holds the migration files. Nil means the embedded ones.
	Files fs.FS
	// Logger receives one line per step. Nil means slog.Default().
	Logger *slog.Logger
}

// Migrator applies migrations to one database. It is not safe for
// concurrent use, but golang-migrate's advisory lock keeps two Migrators on
// the same database from running steps at once.
type Migrator struct {
	db       *sql.DB
	driver   database.Driver
	migrate  *migrate.Migrate
	logger   *slog.Logger
	fsys     fs.FS
	files    []File
	versions []uint
}

// New connects to cfg.URL and reads the migration files.
func New(ctx context.Context, cfg Config) (*Migrator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Files == nil {
		cfg.Files = files
	}
	list, err := ListFiles(cfg.Files)
	if err != nil {
		return nil, err
	}
	if len(versions(list)) == 0 {
		return nil, errors.New("no migration files found")
	}
	db, err := sql.Open("postgres", cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("opening migration database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to migration database: %w", err)
	}
	if err := checkDirect(ctx, db, cfg.URL); err != nil {
		db.Close()
		return nil, err
	}
	if err := ensureHistoryTable(ctx, db); err != nil {
		db.Close()
		return nil, err
	}

	source, err := iofs.New(cfg.Files, ".")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	driver, err := postgres.WithInstance(db, &postgres.Config{MigrationsTable: VersionTable})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing golang-migrate: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", source, "postgres", driver)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing golang-migrate: %w", err)
	}
	return &Migrator{db: db, driver: driver, migrate: m, logger: cfg.Logger, fsys: cfg.Files, files: list, versions: versions(list)}, nil
}

// Close releases the database connection.
func (m *Migrator) Close() error {
	_, dbErr := m.migrate.Close()
	return errors.Join(dbErr, m.db.Close())
}

// Up applies every pending migration, one logged step at a time.
func (m *Migrator) Up(ctx context.Context) error {
	for {
		moved, err := m.step(ctx, 1)
		if err != nil || !moved {
			return err
		}
	}
}

// Down reverts the n most recent migrations, one logged step at a time.
func (m *Migrator) Down(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("down needs a number of steps of 1 or more, got %d", n)
	}
	for range n {
		moved, err := m.step(ctx, -1)
		if err != nil {
			return err
		}
		if !moved {
			return errors.New("no migration left to revert")
		}
	}
	return nil
}

// Goto migrates up or down until the schema is at version.
func (m *Migrator) Goto(ctx context.Context, version uint) error {
	if !m.exists(version) {
		return fmt.Errorf("version %d does not exist; `todolog migrate status` lists the versions", version)
	}
	for {
		current, dirty, err := m.version()
		if err != nil {
			return err
		}
		if dirty {
			return m.dirtyError(ctx)
		}
		if current == int(version) {
			return nil
		}
		direction := 1
		if current > int(version) {
			direction = -1
		}
		if _, err := m.step(ctx, direction); err != nil {
			return err
		}
	}
}

// Force records version as the current one and clears the dirty flag
// without running any SQL. Use it after checking by hand which version the
// schema is really at; -1 means no migration applied.
func (m *Migrator) Force(ctx context.Context, version int) error {
	if version != -1 && !m.exists(uint(version)) {
		return fmt.Errorf("version %d does not exist; `todolog migrate status` lists the versions", version)
	}
	before, dirty, err := m.version()
	if err != nil {
		return err
	}
	if err := m.migrate.Force(version); err != nil {
		return fmt.Errorf("forcing version %d: %w", version, err)
	}
	m.logger.Info("forced migration version", "from_version", before, "was_dirty", dirty, "version", version)
	return recordForce(ctx, m.db, before, version)
}

// step runs one migration in direction (1 up, -1 down) and logs it. It
// returns false when there was nothing to run.
func (m *Migrator) step(ctx context.Context, direction int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	from, dirty, err := m.version()
	if err != nil {
		return false, err
	}
	if dirty {
		return false, m.dirtyError(ctx)
	}
	to, ok := m.neighbour(from, direction)
	if !ok {
		return false, nil
	}

	name := "up"
	if direction < 0 {
		name = "down"
	}
	m.logger.Info("migration step starting", "direction", name, "from_version", from, "to_version", to)
	historyID, err := recordStart(ctx, m.db, name, from, to)
	if err != nil {
		return false, err
	}
	start := time.Now()
	stepErr := m.migrate.Steps(direction)
	duration := time.Since(start)
	if err := recordFinish(context.WithoutCancel(ctx), m.db, historyID, duration, stepErr); err != nil {
		m.logger.Error("recording migration step in history failed", "error", err)
	}
	if stepErr != nil {
		m.logger.Error("migration step failed", "direction", name, "from_version", from,
			"to_version", to, "duration", duration, "error", stepErr)
		return false, fmt.Errorf("migrating %s from version %d to %d: %w "+
			"(`todolog migrate status` explains the state and how to repair it)", name, from, to, stepErr)
	}
	m.logger.Info("migration step done", "direction", name, "from_version", from, "to_version", to,
		"duration", duration.Round(time.Microsecond))
	return true, nil
}

// version returns the current version, -1 when none is applied. It asks
// the driver, because migrate.Version hides the dirty flag of a failed
// down step from version 1 to none.
func (m *Migrator) version() (int, bool, error) {
	v, dirty, err := m.driver.Version()
	if err != nil {
		return 0, false, fmt.Errorf("reading the schema version: %w", err)
	}
	return v, dirty, nil
}

// neighbour returns the version one step from version in direction, -1
// standing for "no migration applied".
func (m *Migrator) neighbour(version int, direction int) (int, bool) {
	versions := m.versions
	for i, v := range versions {
		if int(v) == version {
			switch {
			case direction > 0 && i+1 < len(versions):
				return int(versions[i+1]), true
			case direction < 0 && i > 0:
				return int(versions[i-1]), true
			case direction < 0:
				return -1, true
			}
			return 0, false
		}
	}
	if version == -1 && direction > 0 && len(versions) > 0 {
		return int(versions[0]), true
	}
	return 0, false
}

func (m *Migrator) exists(version uint) bool {
	for _, v := range m.versions {
		if v == version {
			return true
		}
	}
	return false
}

func (m *Migrator) dirtyError(ctx context.Context) error {
	status, err := m.Status(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDirty, err)
	}
	return fmt.Errorf("%w: %s", ErrDirty, status.Advice)
}

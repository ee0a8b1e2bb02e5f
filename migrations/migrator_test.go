package migrations_test

import (
	"context"
	"database/sql"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/postgres"
	_ "github.com/golang-migrate/migrate/v4/source/file"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/migrations"
)

func newMigrator(t *testing.T, url string, files fs.FS) *migrations.Migrator {
	t.Helper()
	m, err := migrations.New(context.Background(), migrations.Config{
		URL: pgtest.DirectURL(url), Files: files, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// appendSampleEvents adds tasks firstID to firstID+2 for each user.
func appendSampleEvents(t *testing.T, db *sql.DB, firstID int64, users ...string) {
	t.Helper()
	for _, user := range users {
		for id := firstID; id < firstID+3; id++ {
			_, err := events.Append(context.Background(), db, events.AppendRequest{
				UserID: user, Stream: events.TaskStream(id),
				Events: []events.Event{events.TaskAdded{TaskID: id, Title: "t"}, events.TaskCompleted{TaskID: id}},
			})
			require.NoError(t, err)
		}
	}
}

func eventCount(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	return n
}

func requireChainsVerify(t *testing.T, db *sql.DB, users ...string) {
	t.Helper()
	for _, user := range users {
		verifier := events.ChainVerifier{UserID: user}
		for r, err := range events.ReadUser(context.Background(), db, user, 0) {
			require.NoError(t, err)
			require.NoError(t, verifier.Add(r))
		}
		require.Positive(t, verifier.Count())
	}
}

func TestRoundTripKeepsEvents(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t, false)
	db := pgtest.Open(t, url)
	m := newMigrator(t, url, nil)
	require.NoError(t, m.Up(ctx))
	appendSampleEvents(t, db, 1, "alice", "bob")
	before := eventCount(t, db)

	require.NoError(t, m.Goto(ctx, 1))
	status, err := m.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, status.Version)
	require.Equal(t, before, eventCount(t, db))

	require.NoError(t, m.Up(ctx))
	require.Equal(t, before, eventCount(t, db))
	requireChainsVerify(t, db, "alice", "bob")

	// The log keeps working, and its chains continue, after the round trip.
	appendSampleEvents(t, db, 10, "alice", "carol")
	requireChainsVerify(t, db, "alice", "bob", "carol")
}

func TestDownBelowFirstVersionRefusesPopulatedLog(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t, false)
	db := pgtest.Open(t, url)
	m := newMigrator(t, url, nil)
	require.NoError(t, m.Up(ctx))
	appendSampleEvents(t, db, 1, "dave")
	require.NoError(t, m.Goto(ctx, 1))

	err := m.Down(ctx, 1)
	require.ErrorContains(t, err, "refusing to drop the event log")
	require.Equal(t, 6, eventCount(t, db))

	status, err := m.Status(ctx)
	require.NoError(t, err)
	require.True(t, status.Dirty)
	require.Contains(t, status.Advice, "todolog migrate force 1")

	require.NoError(t, m.Force(ctx, 1))
	require.NoError(t, m.Up(ctx))
	requireChainsVerify(t, db, "dave")
}

// withBrokenMigration returns the embedded files plus a version that fails
// halfway through, after creating a table.
func withBrokenMigration(t *testing.T) fstest.MapFS {
	files := fstest.MapFS{}
	list, err := migrations.ListFiles(migrations.FS())
	require.NoError(t, err)
	for _, f := range list {
		content, err := migrations.ReadFile(migrations.FS(), f)
		require.NoError(t, err)
		files[f.Path] = &fstest.MapFile{Data: []byte(content)}
	}
	files["000900_broken.up.sql"] = &fstest.MapFile{Data: []byte(
		"CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")}
	files["000900_broken.down.sql"] = &fstest.MapFile{Data: []byte("DROP TABLE half_done;\n")}
	return files
}

func TestFailedMigrationIsExplainedAndForced(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t, false)
	db := pgtest.Open(t, url)
	m := newMigrator(t, url, withBrokenMigration(t))
	latest := int(migrations.Latest(migrations.FS()))

	err := m.Up(ctx)
	require.ErrorContains(t, err, "division by zero")

	status, err := m.Status(ctx)
	require.NoError(t, err)
	require.True(t, status.Dirty)
	require.Equal(t, 900, status.Version)
	require.Contains(t, status.Advice, "failed")
	require.Contains(t, status.Advice, "todolog migrate force "+strconv.Itoa(latest))

	// The file ran in one transaction, so its first statement left nothing.
	var exists bool
	require.NoError(t, db.QueryRow(`SELECT to_regclass('half_done') IS NOT NULL`).Scan(&exists))
	require.False(t, exists)

	require.ErrorIs(t, m.Up(ctx), migrations.ErrDirty)
	require.NoError(t, m.Force(ctx, latest))
	status, err = m.Status(ctx)
	require.NoError(t, err)
	require.False(t, status.Dirty)
	require.Equal(t, latest, status.Version)
}

func TestValidateLeavesSchemaUntouched(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t, false)
	db := pgtest.Open(t, url)
	m := newMigrator(t, url, nil)
	require.NoError(t, m.Goto(ctx, 1))

	steps, err := m.Validate(ctx)
	require.NoError(t, err)
	pending := len(migrations.Versions(migrations.FS())) - 1
	require.Len(t, steps, 3*pending, "each pending file goes up, down and up again")

	status, err := m.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, status.Version)
	var triggers int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_trigger WHERE tgname = 'events_before_insert'`).Scan(&triggers))
	require.Zero(t, triggers)
}

func TestValidateCatchesBrokenMigration(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t, false)
	m := newMigrator(t, url, withBrokenMigration(t))
	require.NoError(t, m.Goto(ctx, migrations.Latest(migrations.FS())))

	_, err := m.Validate(ctx)
	require.ErrorContains(t, err, "000900_broken.up.sql")
	status, err := m.Status(ctx)
	require.NoError(t, err)
	require.False(t, status.Dirty)
	require.Equal(t, int(migrations.Latest(migrations.FS())), status.Version)
}

// The stock migrate CLI reads the folder through golang-migrate's file
// source; the same path must apply and revert the files.
func TestStockMigrateAppliesFolder(t *testing.T) {
	url := pgtest.NewDatabase(t, false)
	dir, err := os.Getwd()
	require.NoError(t, err)
	stock, err := migrate.New("file://"+filepath.ToSlash(dir), url)
	require.NoError(t, err)
	defer stock.Close()
	require.NoError(t, stock.Up())
	version, dirty, err := stock.Version()
	require.NoError(t, err)
	require.False(t, dirty)
	require.Equal(t, migrations.Latest(migrations.FS()), version)
	require.NoError(t, stock.Steps(-1))
}

package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
)

// rebuildMaxAttempts bounds how often Rebuild starts a projection's
// transaction again after it conflicted with a live projector's batch (see
// isRebuildConflict).
const rebuildMaxAttempts = 30

// checkpointLockTimeout bounds the wait for the checkpoint row lock. A live
// batch that holds the row and then waits for the read tables that the
// rebuild locked first would otherwise wait until PostgreSQL's deadlock
// check, after deadlock_timeout (1 s by default), ends one of the two.
const checkpointLockTimeout = "200ms"

// rebuildPageSize is how many events one query of a rebuild reads.
const rebuildPageSize = 5000

// ownedTables lists the read tables each projection maintains, referenced
// tables first.
var ownedTables = map[string][]string{
	Tasks:         {"tasks"},
	Conversations: {"conversations", "messages"},
}

// RebuildConfig configures Rebuild.
type RebuildConfig struct {
	// Projections names the projections to rebuild, one transaction each,
	// in this order. Empty means all of Names().
	Projections []string
	// DryRun rebuilds in the transaction, compares the rebuilt tables with
	// the live ones row by row, and rolls back.
	DryRun bool
	// Logger receives a line per rebuilt projection, per retried
	// transaction and per event parked. Nil means slog.Default().
	Logger *slog.Logger
	// OnStart, when set, is called once a projection's locks are held,
	// with the number of its events the rebuild will read. Counting them
	// costs one more query.
	OnStart func(projection string, total int64)
	// OnProgress, when set, is called after each page with the number of
	// the projection's events read so far.
	OnProgress func(projection string, read int64)
}

// RebuildResult reports what Rebuild did, one entry per projection.
type RebuildResult struct {
	Projections []ProjectionRebuild
}

// ProjectionRebuild reports the rebuild of one projection.
type ProjectionRebuild struct {
	Projection string
	// DryRun is true when the transaction was rolled back on purpose.
	DryRun bool
	// Bound is pg_snapshot_xmin of the rebuild's snapshot. The rebuild
	// read the events with a lower transaction id and left the rest to the
	// live projector.
	Bound uint64
	// Applied counts the projection's events applied from the log.
	Applied int64
	// Parked lists the events that failed again and were parked, and the
	// events held behind them, in log order.
	Parked []ParkedEvent
	// Checkpoint is the last event below Bound, where the live projector
	// resumes, or zero for an empty log.
	Checkpoint events.Cursor
	// Tables compares each read table of the projection before and after
	// the rebuild.
	Tables []TableComparison
	// Attempts counts the transactions started, 1 unless a conflict with a
	// live projector (see isRebuildConflict) made Rebuild start again.
	Attempts int
	Duration time.Duration
}

// Equal reports whether every rebuilt table equals the live one.
func (r ProjectionRebuild) Equal() bool {
	for _, table := range r.Tables {
		if !table.Equal() {
			return false
		}
	}
	return true
}

// TableComparison compares a read table as the rebuild found it, under its
// locks, with the table it rebuilt.
type TableComparison struct {
	Table   string
	Live    Checksum
	Rebuilt Checksum
	// The row differences are counted by id in dry runs only, because
	// counting them needs a copy of the live table.
	Differences *RowDifferences
}

// Equal reports whether the two tables hold the same rows.
func (c TableComparison) Equal() bool { return c.Live == c.Rebuilt }

// RowDifferences counts the rows of a read table that a rebuild would
// change, by id.
type RowDifferences struct {
	// Missing counts live rows that the rebuild does not produce.
	Missing int64
	// Extra counts rebuilt rows absent from the live table.
	Extra int64
	// Changed counts ids in both tables whose rows differ.
	Changed int64
	// SampleIDs lists up to ten of the differing ids, lowest first.
	SampleIDs []int64
}

// Rebuild replays the log into the read tables of each projection in
// cfg.Projections while the service runs. Each projection is rebuilt in
// one REPEATABLE READ transaction:
//
//  1. LOCK TABLE on the projection's read tables in EXCLUSIVE mode, before
//     the snapshot is taken, waits for a live batch that already wrote to
//     them and blocks later writers. Plain SELECTs go on.
//  2. The first query takes the snapshot and reads the bound,
//     pg_snapshot_xmin(pg_current_snapshot()): every transaction below it
//     has ended.
//  3. The projection's row in projection_checkpoints is locked FOR UPDATE,
//     which pauses its consumers in every process, because watermill-sql's
//     subscriber takes the same lock.
//  4. The read tables' rows and the projection's parked events are
//     deleted with DELETE, so other sessions keep reading the old rows
//     until the commit.
//  5. The projection's events with a transaction id below the bound are
//     applied in (transaction_id, position) order, a page at a time.
//  6. The checkpoint moves to the last event below the bound, so the live
//     projector applies every later event, including those of transactions
//     still open at the start, exactly once.
//
// Parked events are tried again like every other event. An event that
// fails on its own content (see isPoison) is parked again with its error,
// and the same user's later events of the projection are held behind it, as
// the live projector does. Any other failure rolls the projection back and
// is returned. A conflict with a live projector's batch (isRebuildConflict)
// starts the projection's transaction again, up to 30 times.
//
// Projections rebuilt before a failure stay rebuilt, and the result lists
// them. Cancelling ctx rolls back the projection in progress.
func Rebuild(ctx context.Context, db *sql.DB, cfg RebuildConfig) (RebuildResult, error) {
	names := cfg.Projections
	if len(names) == 0 {
		names = Names()
	}
	projectionsToRebuild := make([]projection, 0, len(names))
	for _, name := range names {
		p, err := lookup(name)
		if err != nil {
			return RebuildResult{}, err
		}
		projectionsToRebuild = append(projectionsToRebuild, p)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	var result RebuildResult
	for _, p := range projectionsToRebuild {
		rebuilt, err := rebuildWithRetries(ctx, db, p, cfg)
		if err != nil {
			return result, err
		}
		result.Projections = append(result.Projections, rebuilt)
	}
	return result, nil
}

// rebuildWithRetries runs rebuildProjection until it succeeds, fails with
// an error that a new transaction would not avoid, or has made
// rebuildMaxAttempts attempts.
func rebuildWithRetries(ctx context.Context, db *sql.DB, p projection, cfg RebuildConfig) (ProjectionRebuild, error) {
	logger := cfg.Logger.With("projection", p.name, "dry_run", cfg.DryRun)
	start := time.Now()
	for attempt := 1; ; attempt++ {
		rebuilt, err := rebuildProjection(ctx, db, p, cfg, logger)
		if err == nil {
			rebuilt.Attempts = attempt
			rebuilt.Duration = time.Since(start)
			logger.Info("projection rebuilt", "applied", rebuilt.Applied, "parked", len(rebuilt.Parked),
				"equal", rebuilt.Equal(), "checkpoint", formatCursor(rebuilt.Checkpoint),
				"attempts", attempt, "duration", rebuilt.Duration.Round(time.Millisecond))
			return rebuilt, nil
		}
		if !isRebuildConflict(err) || attempt >= rebuildMaxAttempts || ctx.Err() != nil {
			return ProjectionRebuild{}, fmt.Errorf("rebuilding projection %s (attempt %d of %d): %w",
				p.name, attempt, rebuildMaxAttempts, err)
		}
		// A random wait keeps the next attempt from meeting the same
		// projector batch at the same point.
		wait := time.Duration(10+rand.IntN(90)) * time.Millisecond
		logger.Warn("rebuild conflicted with a live projector; starting its transaction again",
			"attempt", attempt, "max_attempts", rebuildMaxAttempts, "wait", wait, "error", err)
		if err := sleep(ctx, wait); err != nil {
			return ProjectionRebuild{}, fmt.Errorf("rebuilding projection %s: %w", p.name, err)
		}
	}
}

// rebuildProjection makes one attempt in one transaction, committed unless
// cfg.DryRun is set.
func rebuildProjection(ctx context.Context, db *sql.DB, p projection, cfg RebuildConfig, logger *slog.Logger) (_ ProjectionRebuild, err error) {
	tables := ownedTables[p.name]
	result := ProjectionRebuild{Projection: p.name, DryRun: cfg.DryRun}

	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return result, fmt.Errorf("beginning the rebuild transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			err = errors.Join(err, ignoreTxDone(tx.Rollback()))
		}
	}()

	// LOCK TABLE takes no snapshot, so the snapshot that the next query
	// takes includes every live batch that wrote to these tables before.
	quoted := make([]string, len(tables))
	for i, table := range tables {
		quoted[i] = pq.QuoteIdentifier(table)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+strings.Join(quoted, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return result, fmt.Errorf("locking tables %s: %w", strings.Join(tables, ", "), err)
	}
	operator, err := events.ScopeOperator(ctx, tx)
	if err != nil {
		return result, err
	}
	if result.Bound, err = readBound(ctx, operator); err != nil {
		return result, err
	}
	if err := lockCheckpoint(ctx, operator, p.name); err != nil {
		return result, err
	}

	if cfg.OnStart != nil {
		total, err := countEventsBelow(ctx, operator, p.streamType, result.Bound)
		if err != nil {
			return result, err
		}
		cfg.OnStart(p.name, total)
	}
	for _, table := range tables {
		live, err := TableChecksum(ctx, operator, table)
		if err != nil {
			return result, err
		}
		result.Tables = append(result.Tables, TableComparison{Table: table, Live: live})
	}
	if cfg.DryRun {
		if err := copyLiveTables(ctx, operator, tables); err != nil {
			return result, err
		}
	}
	if err := clearProjection(ctx, operator, p.name, tables); err != nil {
		return result, err
	}

	if err := replayBelowBound(ctx, operator, p, cfg, logger, &result); err != nil {
		return result, err
	}
	if err := compareRebuiltTables(ctx, operator, &result); err != nil {
		return result, err
	}
	if result.Checkpoint, err = lastEventBelow(ctx, operator, result.Bound); err != nil {
		return result, err
	}
	if err := moveCheckpoint(ctx, operator, p.name, result.Checkpoint); err != nil {
		return result, err
	}

	if cfg.DryRun {
		return result, nil
	}
	if err := tx.Commit(); err != nil {
		return result, fmt.Errorf("committing the rebuild: %w", err)
	}
	committed = true
	return result, nil
}

// readBound takes the transaction's snapshot, being its first query, and
// returns the snapshot's xmin.
func readBound(ctx context.Context, db events.DBTX) (uint64, error) {
	var bound uint64
	if err := db.QueryRowContext(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&bound); err != nil {
		return 0, fmt.Errorf("reading the oldest open transaction: %w", err)
	}
	return bound, nil
}

// lockCheckpoint creates the projection's checkpoint row if no projector
// has yet, and locks it, waiting at most checkpointLockTimeout.
func lockCheckpoint(ctx context.Context, db events.DBTX, projectionName string) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO projection_checkpoints (projection) VALUES ($1)
		ON CONFLICT (projection) DO NOTHING`, projectionName); err != nil {
		return fmt.Errorf("creating the checkpoint of projection %s: %w", projectionName, err)
	}
	if _, err := db.ExecContext(ctx, `SET LOCAL lock_timeout = '`+checkpointLockTimeout+`'`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `SELECT 1 FROM projection_checkpoints WHERE projection = $1 FOR UPDATE`,
		projectionName); err != nil {
		return fmt.Errorf("locking the checkpoint of projection %s: %w", projectionName, err)
	}
	if _, err := db.ExecContext(ctx, `SET LOCAL lock_timeout TO DEFAULT`); err != nil {
		return err
	}
	return nil
}

// isRebuildConflict reports whether err comes from a live projector's batch
// that held or moved the checkpoint at the same moment: a serialization
// failure, a deadlock, or the checkpoint lock's timeout (lock_not_available,
// 55P03). A new transaction can succeed.
func isRebuildConflict(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "55P03" {
		return true
	}
	return isSerializationFailure(err)
}

// countEventsBelow counts the events of one stream type below bound.
func countEventsBelow(ctx context.Context, db events.DBTX, streamType string, bound uint64) (int64, error) {
	var total int64
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM events
		WHERE events.transaction_id < $1::text::xid8 AND events.stream_type = $2`,
		strconv.FormatUint(bound, 10), streamType).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("counting the events to replay: %w", err)
	}
	return total, nil
}

// clearProjection deletes the projection's rows, referencing tables first,
// and its parked events, which the replay tries again.
func clearProjection(ctx context.Context, db events.DBTX, projectionName string, tables []string) error {
	for i := len(tables) - 1; i >= 0; i-- {
		if _, err := db.ExecContext(ctx, `DELETE FROM `+pq.QuoteIdentifier(tables[i])); err != nil {
			return fmt.Errorf("deleting the rows of %s: %w", tables[i], err)
		}
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM parked_events WHERE projection = $1`, projectionName); err != nil {
		return fmt.Errorf("deleting the parked events of projection %s: %w", projectionName, err)
	}
	return nil
}

// lastEventBelow returns the last event of any stream below bound, in the
// order consumers read the log, or the zero cursor for an empty log.
func lastEventBelow(ctx context.Context, db events.DBTX, bound uint64) (events.Cursor, error) {
	var last events.Cursor
	err := db.QueryRowContext(ctx, `SELECT events.transaction_id::text::bigint, events.position FROM events
		WHERE events.transaction_id < $1::text::xid8
		ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1`,
		strconv.FormatUint(bound, 10)).Scan(&last.TransactionID, &last.Position)
	if errors.Is(err, sql.ErrNoRows) {
		return events.Cursor{}, nil
	}
	if err != nil {
		return events.Cursor{}, fmt.Errorf("reading the last event below the rebuild's bound: %w", err)
	}
	return last, nil
}

// moveCheckpoint sets the projection's checkpoint to cursor.
func moveCheckpoint(ctx context.Context, db events.DBTX, projectionName string, cursor events.Cursor) error {
	_, err := db.ExecContext(ctx, `UPDATE projection_checkpoints
		SET last_transaction_id = $2::text::xid8, last_position = $3, updated_at = clock_timestamp()
		WHERE projection = $1`, projectionName, strconv.FormatUint(cursor.TransactionID, 10), cursor.Position)
	if err != nil {
		return fmt.Errorf("moving the checkpoint of projection %s to %s: %w", projectionName, formatCursor(cursor), err)
	}
	return nil
}

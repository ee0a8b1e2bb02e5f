package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// HistoryTable records every migration step todolog ran, including steps
// that failed or never finished, so status can say what happened. The stock
// migrate CLI does not write to it.
const HistoryTable = "schema_migration_history"

// Step is one row of the migration history.
type Step struct {
	ID          int64
	Direction   string // "up", "down" or "force"
	FromVersion int
	ToVersion   int
	StartedAt   time.Time
	FinishedAt  *time.Time
	Duration    *time.Duration
	Error       string
}

func ensureHistoryTable(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+HistoryTable+` (
		id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		direction    text        NOT NULL,
		from_version integer     NOT NULL,
		to_version   integer     NOT NULL,
		started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
		finished_at  timestamptz,
		duration_us  bigint,
		error        text NOT NULL DEFAULT ''
	)`)
	if err != nil {
		return fmt.Errorf("creating %s: %w", HistoryTable, err)
	}
	return nil
}

func recordStart(ctx context.Context, db *sql.DB, direction string, from, to int) (int64, error) {
	var id int64
	err := db.QueryRowContext(ctx, `INSERT INTO `+HistoryTable+` (direction, from_version, to_version)
		VALUES ($1, $2, $3) RETURNING id`, direction, from, to).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording migration step in %s: %w", HistoryTable, err)
	}
	return id, nil
}

func recordFinish(ctx context.Context, db *sql.DB, id int64, duration time.Duration, stepErr error) error {
	message := ""
	if stepErr != nil {
		message = stepErr.Error()
	}
	_, err := db.ExecContext(ctx, `UPDATE `+HistoryTable+`
		SET finished_at = clock_timestamp(), duration_us = $2, error = $3 WHERE id = $1`,
		id, duration.Microseconds(), message)
	return err
}

func recordForce(ctx context.Context, db *sql.DB, from, to int) error {
	_, err := db.ExecContext(ctx, `INSERT INTO `+HistoryTable+`
		(direction, from_version, to_version, finished_at, duration_us) VALUES ('force', $1, $2, clock_timestamp(), 0)`,
		from, to)
	if err != nil {
		return fmt.Errorf("recording forced version in %s: %w", HistoryTable, err)
	}
	return nil
}

// History returns the most recent steps, newest first.
func (m *Migrator) History(ctx context.Context, limit int) ([]Step, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT id, direction, from_version, to_version, started_at,
		finished_at, duration_us, error FROM `+HistoryTable+` ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", HistoryTable, err)
	}
	defer rows.Close()
	var steps []Step
	for rows.Next() {
		var s Step
		var finished sql.NullTime
		var micros sql.NullInt64
		if err := rows.Scan(&s.ID, &s.Direction, &s.FromVersion, &s.ToVersion, &s.StartedAt,
			&finished, &micros, &s.Error); err != nil {
			return nil, err
		}
		if finished.Valid {
			s.FinishedAt = &finished.Time
		}
		if micros.Valid {
			d := time.Duration(micros.Int64) * time.Microsecond
			s.Duration = &d
		}
		steps = append(steps, s)
	}
	return steps, rows.Err()
}

package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/todolog/todolog/events"
)

// ParkedEvent is an event a projection set aside, stored in parked_events.
// The projection's checkpoint has moved past it, but the read tables do not
// show it until RetryParked applies it.
type ParkedEvent struct {
	Projection    string
	Position      int64
	TransactionID uint64
	UserID        string
	EventType     string
	// Error is the last error applying the event or, for a held event,
	// which parked event it waits behind.
	Error    string
	Attempts int
	// Held is true while the event waits behind an earlier parked event of
	// the same user and has not been tried itself.
	Held     bool
	ParkedAt time.Time
	// LastAttemptAt is zero while the event is held and untried.
	LastAttemptAt time.Time
}

const parkedColumns = `projection, position, transaction_id::text::bigint, user_id, event_type, error,
	attempts, held, parked_at, last_attempt_at`

func scanParked(row rowScanner) (ParkedEvent, error) {
	var p ParkedEvent
	var lastAttempt sql.NullTime
	err := row.Scan(&p.Projection, &p.Position, &p.TransactionID, &p.UserID, &p.EventType, &p.Error,
		&p.Attempts, &p.Held, &p.ParkedAt, &lastAttempt)
	if err != nil {
		return ParkedEvent{}, err
	}
	p.ParkedAt = p.ParkedAt.UTC()
	if lastAttempt.Valid {
		p.LastAttemptAt = lastAttempt.Time.UTC()
	}
	return p, nil
}

// ListParked returns the parked events of the named projection, or of every
// projection when projectionName is empty, in the order they were read. It
// is an operator path (events.AsOperator).
func ListParked(ctx context.Context, db events.DBTX, projectionName string) ([]ParkedEvent, error) {
	if projectionName != "" {
		if _, err := lookup(projectionName); err != nil {
			return nil, err
		}
	}
	return asOperator(ctx, db, func(db events.DBTX) ([]ParkedEvent, error) {
		return listParked(ctx, db, projectionName)
	})
}

func listParked(ctx context.Context, db events.DBTX, projectionName string) ([]ParkedEvent, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+parkedColumns+` FROM parked_events
		WHERE $1 = '' OR projection = $1
		ORDER BY projection, transaction_id, position`, projectionName)
	if err != nil {
		return nil, fmt.Errorf("listing parked events: %w", err)
	}
	defer rows.Close()
	var list []ParkedEvent
	for rows.Next() {
		p, err := scanParked(rows)
		if err != nil {
			return nil, fmt.Errorf("listing parked events: %w", err)
		}
		list = append(list, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing parked events: %w", err)
	}
	return list, nil
}

// readParked returns one parked event, or ErrNotFound.
func readParked(ctx context.Context, db events.DBTX, projectionName string, position int64) (ParkedEvent, error) {
	row := db.QueryRowContext(ctx, `SELECT `+parkedColumns+` FROM parked_events
		WHERE projection = $1 AND position = $2`, projectionName, position)
	p, err := scanParked(row)
	if errors.Is(err, sql.ErrNoRows) {
		return ParkedEvent{}, fmt.Errorf("no event at position %d is parked in projection %s: %w",
			position, projectionName, ErrNotFound)
	}
	if err != nil {
		return ParkedEvent{}, fmt.Errorf("reading parked event at position %d of projection %s: %w",
			position, projectionName, err)
	}
	return p, nil
}

// firstParked returns the position of the user's earliest parked event in
// the projection, and false when the user has none.
func firstParked(ctx context.Context, db events.DBTX, projectionName, userID string) (int64, bool, error) {
	var position int64
	err := db.QueryRowContext(ctx, `SELECT position FROM parked_events
		WHERE projection = $1 AND user_id = $2
		ORDER BY transaction_id, position LIMIT 1`, projectionName, userID).Scan(&position)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading parked events of user %s in projection %s: %w", userID, projectionName, err)
	}
	return position, true, nil
}

// park stores r as parked. A held event gets no attempt time. Parking an
// event twice keeps the first row, which happens when a batch committed the
// parking but not its checkpoint and the event is read again.
func park(ctx context.Context, db events.DBTX, projectionName string, r events.Record, cause string, attempts int, held bool) error {
	_, err := db.ExecContext(ctx, `INSERT INTO parked_events
		(projection, position, transaction_id, user_id, event_type, error, attempts, held, last_attempt_at)
		VALUES ($1, $2, $3::text::xid8, $4, $5, $6, $7, $8, CASE WHEN $8 THEN NULL ELSE clock_timestamp() END)
		ON CONFLICT (projection, position) DO NOTHING`,
		projectionName, r.Position, strconv.FormatUint(r.TransactionID, 10), r.UserID, r.Type, cause, attempts, held)
	if err != nil {
		return fmt.Errorf("parking event at position %d of user %s in projection %s: %w",
			r.Position, r.UserID, projectionName, err)
	}
	return nil
}

// recordFailedAttempt stores the error of one more failed attempt and marks
// the event as no longer held.
func recordFailedAttempt(ctx context.Context, db events.DBTX, projectionName string, position int64, cause error) error {
	_, err := db.ExecContext(ctx, `UPDATE parked_events
		SET error = $3, attempts = attempts + 1, held = false, last_attempt_at = clock_timestamp()
		WHERE projection = $1 AND position = $2`, projectionName, position, cause.Error())
	if err != nil {
		return fmt.Errorf("recording failed attempt for parked event at position %d of projection %s: %w",
			position, projectionName, err)
	}
	return nil
}

func unpark(ctx context.Context, db events.DBTX, projectionName string, position int64) error {
	_, err := db.ExecContext(ctx, `DELETE FROM parked_events WHERE projection = $1 AND position = $2`,
		projectionName, position)
	if err != nil {
		return fmt.Errorf("removing parked event at position %d of projection %s: %w", position, projectionName, err)
	}
	return nil
}

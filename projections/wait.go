package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
)

// Polling intervals of WaitFor: short first, because a running
// projector usually applies an event within one poll interval, then longer
// so a slow wait costs few queries.
const (
	firstWaitInterval = 5 * time.Millisecond
	maxWaitInterval   = 100 * time.Millisecond
)

// WaitFor waits until every projection's checkpoint is at or past cursor,
// the place of a command's last event (commands.ParseToken reads it from a
// consistency token). Reads that follow then see that command. It returns
// an error wrapping ErrWaitTimeout, naming the projections still behind,
// when timeout runs out first, and one wrapping ErrParked when a
// projection parked the event instead of applying it. The zero cursor
// returns at once, and a timeout of zero or less checks once. The cursor
// must be of userID's command: each check is scoped to userID, so another
// user's parked event is not seen.
func WaitFor(ctx context.Context, db events.DBTX, userID string, cursor events.Cursor, timeout time.Duration) error {
	if err := events.CheckUserID(userID); err != nil {
		return err
	}
	if cursor == (events.Cursor{}) {
		return nil
	}
	deadline := time.Now().Add(timeout)
	interval := firstWaitInterval
	for {
		var behind []string
		err := events.AsUser(ctx, db, userID, func(db events.DBTX) error {
			var err error
			behind, err = projectionsBehind(ctx, db, cursor)
			if err != nil || len(behind) > 0 {
				return err
			}
			return checkNotParked(ctx, db, cursor)
		})
		if err != nil || len(behind) == 0 {
			return err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return fmt.Errorf("%w: event %s not yet applied by projection %s after %s",
				ErrWaitTimeout, formatCursor(cursor), strings.Join(behind, ", "), timeout)
		}
		if err := sleep(ctx, min(interval, remaining)); err != nil {
			return fmt.Errorf("waiting for event %s: %w", formatCursor(cursor), err)
		}
		interval = min(interval*2, maxWaitInterval)
	}
}

// formatCursor writes cursor as a consistency token does:
// "<transaction id>.<position>".
func formatCursor(cursor events.Cursor) string {
	return strconv.FormatUint(cursor.TransactionID, 10) + "." + strconv.FormatInt(cursor.Position, 10)
}

// projectionsBehind returns the projections whose checkpoint is before
// cursor, including those that never ran.
func projectionsBehind(ctx context.Context, db events.DBTX, cursor events.Cursor) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT projection FROM projection_checkpoints
		WHERE projection = ANY($1)
		  AND (last_transaction_id, last_position) >= ($2::text::xid8, $3)`,
		pq.Array(Names()), strconv.FormatUint(cursor.TransactionID, 10), cursor.Position)
	if err != nil {
		return nil, fmt.Errorf("reading projection checkpoints: %w", err)
	}
	defer rows.Close()
	var caughtUp []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("reading projection checkpoints: %w", err)
		}
		caughtUp = append(caughtUp, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading projection checkpoints: %w", err)
	}
	var behind []string
	for _, name := range Names() {
		if !slices.Contains(caughtUp, name) {
			behind = append(behind, name)
		}
	}
	return behind, nil
}

// checkNotParked returns an ErrParked error when a projection parked the
// event at cursor. A command's earlier events are covered too: they are on
// the same stream, so when one of them is parked, the later ones are held
// behind it.
func checkNotParked(ctx context.Context, db events.DBTX, cursor events.Cursor) error {
	var projectionName, userID string
	err := db.QueryRowContext(ctx, `SELECT projection, user_id FROM parked_events
		WHERE transaction_id = $1::text::xid8 AND position = $2
		ORDER BY projection LIMIT 1`,
		strconv.FormatUint(cursor.TransactionID, 10), cursor.Position).Scan(&projectionName, &userID)
	switch {
	case err == nil:
		return fmt.Errorf("%w: event %s of user %s is parked in projection %s; list it with ListParked",
			ErrParked, formatCursor(cursor), userID, projectionName)
	case errors.Is(err, sql.ErrNoRows):
		return nil
	default:
		return fmt.Errorf("reading parked events: %w", err)
	}
}

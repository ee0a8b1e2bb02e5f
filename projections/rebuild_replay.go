package projections

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/todolog/todolog/events"
)

// replayBelowBound applies the projection's events below result.Bound, a
// page at a time, and records what it applied and parked in result.
func replayBelowBound(ctx context.Context, tx *events.OperatorTx, p projection, cfg RebuildConfig, logger *slog.Logger,
	result *ProjectionRebuild) error {
	// firstParked maps a user to the position of their earliest event
	// parked in this rebuild.
	firstParked := map[string]int64{}
	after := events.Cursor{}
	read := int64(0)
	for {
		page, err := readPageBelow(ctx, tx, p.streamType, after, result.Bound)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		applied, parked, err := applyPage(ctx, tx, p, page, firstParked, logger)
		if err != nil {
			return err
		}
		result.Applied += applied
		result.Parked = append(result.Parked, parked...)
		read += int64(len(page))
		if cfg.OnProgress != nil {
			cfg.OnProgress(p.name, read)
		}
		if len(page) < rebuildPageSize {
			return nil
		}
		after = events.CursorOf(page[len(page)-1])
	}
}

// readPageBelow reads the next page of events of one stream type after
// cursor and below bound, in the order consumers read the log.
func readPageBelow(ctx context.Context, db events.DBTX, streamType string, after events.Cursor, bound uint64) ([]events.Record, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE (events.transaction_id, events.position) > ($1::text::xid8, $2)
		  AND events.transaction_id < $3::text::xid8
		  AND events.stream_type = $4
		ORDER BY events.transaction_id, events.position LIMIT $5`,
		strconv.FormatUint(after.TransactionID, 10), after.Position, strconv.FormatUint(bound, 10), streamType, rebuildPageSize)
	if err != nil {
		return nil, fmt.Errorf("reading the log after %s: %w", formatCursor(after), err)
	}
	defer rows.Close()
	page := make([]events.Record, 0, rebuildPageSize)
	for rows.Next() {
		r, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the log after %s: %w", formatCursor(after), err)
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the log after %s: %w", formatCursor(after), err)
	}
	return page, nil
}

// applyPage applies one page inside a savepoint. It falls back to
// applyEventByEvent when an event of the page fails on its own content or a
// user of the page already has a parked event.
func applyPage(ctx context.Context, tx *events.OperatorTx, p projection, page []events.Record, firstParked map[string]int64,
	logger *slog.Logger) (int64, []ParkedEvent, error) {
	hasParkedUser := false
	for _, r := range page {
		if _, found := firstParked[r.UserID]; found {
			hasParkedUser = true
			break
		}
	}
	if !hasParkedUser {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT rebuild_page`); err != nil {
			return 0, nil, err
		}
		err := applyEvents(ctx, tx, p, page)
		if err == nil {
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT rebuild_page`); err != nil {
				return 0, nil, err
			}
			return int64(len(page)), nil, nil
		}
		if !isPoison(err) {
			return 0, nil, err
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT rebuild_page`); err != nil {
			return 0, nil, err
		}
	}
	return applyEventByEvent(ctx, tx, p, page, firstParked, logger)
}

// applyEvents applies a page with ApplyBatch's set-based statements. An
// event's own fault comes back as a poison error (see isPoison), and
// applyPage then finds and parks the event one at a time.
func applyEvents(ctx context.Context, tx *events.OperatorTx, p projection, page []events.Record) error {
	return ApplyBatch(ctx, tx, p.name, page)
}

// applyEventByEvent applies each event of page in its own savepoint. An
// event that fails on its own content is parked with its error and one
// attempt, and the same user's later events are parked as held behind it.
func applyEventByEvent(ctx context.Context, tx *events.OperatorTx, p projection, page []events.Record, firstParked map[string]int64,
	logger *slog.Logger) (int64, []ParkedEvent, error) {
	var applied int64
	var parked []ParkedEvent
	for _, r := range page {
		eventLogger := logger.With("position", r.Position, "user_id", r.UserID, "event_type", r.Type)
		if first, found := firstParked[r.UserID]; found {
			cause := fmt.Sprintf("held behind parked event at position %d of the same user", first)
			if err := park(ctx, tx, p.name, r, cause, 0, true); err != nil {
				return 0, nil, err
			}
			parked = append(parked, parkedByRebuild(p.name, r, cause, 0, true))
			eventLogger.Warn("rebuild held an event behind a parked event of the same user", "parked_position", first)
			continue
		}

		_, err := applyInSavepoint(ctx, tx.Tx, p, r)
		if err == nil {
			applied++
			continue
		}
		if !isPoison(err) {
			return 0, nil, fmt.Errorf("applying %s at position %d of user %s: %w", r.Type, r.Position, r.UserID, err)
		}
		if err := park(ctx, tx, p.name, r, err.Error(), 1, false); err != nil {
			return 0, nil, err
		}
		firstParked[r.UserID] = r.Position
		parked = append(parked, parkedByRebuild(p.name, r, err.Error(), 1, false))
		eventLogger.Error("rebuild parked an event: the projection cannot apply it", "error", err)
	}
	return applied, parked, nil
}

// parkedByRebuild describes an event the rebuild parked, for its result.
func parkedByRebuild(projectionName string, r events.Record, cause string, attempts int, held bool) ParkedEvent {
	return ParkedEvent{
		Projection: projectionName, Position: r.Position, TransactionID: r.TransactionID, UserID: r.UserID,
		EventType: r.Type, Error: cause, Attempts: attempts, Held: held,
	}
}

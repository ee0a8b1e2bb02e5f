package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/todolog/todolog/events"
)

// eventColumns lists the columns of the events table that projections read,
// in the order scanEvent expects. Hashes and metadata are left out because
// no read table uses them.
const eventColumns = `position, transaction_id::text::bigint, event_id, user_id, stream_type, stream_id,
	stream_version, user_sequence, event_type, schema_version, payload, occurred_at, recorded_at`

type rowScanner interface {
	Scan(dest ...any) error
}

// scanEvent reads one row selected with eventColumns. Every column is NOT
// NULL, so no destination needs a nullable type.
func scanEvent(row rowScanner) (events.Record, error) {
	var r events.Record
	var payload []byte
	err := row.Scan(&r.Position, &r.TransactionID, &r.EventID, &r.UserID, &r.Stream.Type, &r.Stream.ID,
		&r.StreamVersion, &r.UserSequence, &r.Type, &r.SchemaVersion, &payload, &r.OccurredAt, &r.RecordedAt)
	if err != nil {
		return events.Record{}, err
	}
	r.Payload = payload
	r.OccurredAt = r.OccurredAt.UTC()
	r.RecordedAt = r.RecordedAt.UTC()
	return r, nil
}

// readEvent returns one event of the log by its place in it.
func readEvent(ctx context.Context, db events.DBTX, userID string, transactionID uint64, position int64) (events.Record, error) {
	row := db.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE user_id = $1 AND transaction_id = $2::text::xid8 AND position = $3`,
		userID, strconv.FormatUint(transactionID, 10), position)
	r, err := scanEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return events.Record{}, fmt.Errorf("event at position %d of user %s: %w", position, userID, ErrNotFound)
	}
	if err != nil {
		return events.Record{}, fmt.Errorf("reading event at position %d of user %s: %w", position, userID, err)
	}
	return r, nil
}

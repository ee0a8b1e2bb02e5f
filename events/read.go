package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
)

// readPageSize is how many rows one query of a reader fetches. Readers page
// by key so memory stays constant and no query holds a snapshot for long.
const readPageSize = 500

// ReadStream yields the events of one stream with a version above
// afterVersion, in version order.
func ReadStream(ctx context.Context, db DBTX, userID string, stream Stream, afterVersion int) iter.Seq2[Record, error] {
	return pages(ctx, asUser(db, userID), func(last *Record) (string, []any) {
		after := int64(afterVersion)
		if last != nil {
			after = int64(last.StreamVersion)
		}
		return `SELECT ` + recordColumns + ` FROM events
			WHERE user_id = $1 AND stream_type = $2 AND stream_id = $3 AND stream_version > $4
			ORDER BY stream_version LIMIT $5`,
			[]any{userID, stream.Type, stream.ID, after, readPageSize}
	}, func() string { return fmt.Sprintf("reading stream %s of user %s", stream, userID) })
}

// ReadUser yields one user's events with a sequence above afterSequence, in
// sequence order. A user's appends are serialized, so sequence order is
// commit order and a reader that keeps up never skips an event.
func ReadUser(ctx context.Context, db DBTX, userID string, afterSequence int64) iter.Seq2[Record, error] {
	return pages(ctx, asUser(db, userID), func(last *Record) (string, []any) {
		after := afterSequence
		if last != nil {
			after = last.UserSequence
		}
		return `SELECT ` + recordColumns + ` FROM events
			WHERE user_id = $1 AND user_sequence > $2
			ORDER BY user_sequence LIMIT $3`,
			[]any{userID, after, readPageSize}
	}, func() string { return fmt.Sprintf("reading events of user %s", userID) })
}

// Cursor is a place in the whole log, in the order consumers read it.
type Cursor struct {
	TransactionID uint64
	Position      int64
}

// CursorOf returns the cursor just at r, so reading after it resumes past r.
func CursorOf(r Record) Cursor {
	return Cursor{TransactionID: r.TransactionID, Position: r.Position}
}

// ReadAll yields every user's events after cursor, ordered by transaction
// id, then position. It is an operator path (AsOperator). The column names
// are qualified so ORDER BY uses the table's xid8 columns and their index,
// not the bigint output columns. It reads only transactions below the
// oldest one still open, so an event that commits later than a
// higher-numbered one is never skipped: it appears after the cursor once
// its transaction ends.
func ReadAll(ctx context.Context, db DBTX, after Cursor) iter.Seq2[Record, error] {
	return pages(ctx, asOperator(db), func(last *Record) (string, []any) {
		if last != nil {
			after = CursorOf(*last)
		}
		return `SELECT ` + recordColumns + ` FROM events
			WHERE (events.transaction_id, events.position) > ($1::text::xid8, $2)
			  AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY events.transaction_id, events.position LIMIT $3`,
			[]any{after.TransactionID, after.Position, readPageSize}
	}, func() string { return "reading the event log" })
}

// pageReader reads one page of records with the scope a reader needs.
type pageReader func(ctx context.Context, query string, args []any) ([]Record, error)

// asUser reads each page scoped to userID, in one round trip given a
// *sql.DB (QueryAsUser).
func asUser(db DBTX, userID string) pageReader {
	return func(ctx context.Context, query string, args []any) ([]Record, error) {
		rows, err := QueryAsUser(ctx, db, userID, query, args...)
		if err != nil {
			return nil, err
		}
		return scanPage(rows)
	}
}

// asOperator reads each page across users (AsOperator).
func asOperator(db DBTX) pageReader {
	return func(ctx context.Context, query string, args []any) ([]Record, error) {
		var records []Record
		err := AsOperator(ctx, db, func(db DBTX) error {
			rows, err := db.QueryContext(ctx, query, args...)
			if err != nil {
				return err
			}
			records, err = scanPage(rows)
			return err
		})
		return records, err
	}
}

// pages runs the query built by next page by page, passing it the last
// record yielded, until a page comes back short or the caller stops.
func pages(ctx context.Context, read pageReader, next func(last *Record) (string, []any), describe func() string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		var last *Record
		for {
			query, args := next(last)
			records, err := read(ctx, query, args)
			if err != nil {
				yield(Record{}, fmt.Errorf("%s: %w", describe(), err))
				return
			}
			for i := range records {
				if !yield(records[i], nil) {
					return
				}
			}
			if len(records) < readPageSize {
				return
			}
			last = &records[len(records)-1]
		}
	}
}

// scanPage reads one page fully before the caller sees it, so no result
// set stays open while the caller works, even inside a transaction.
func scanPage(rows *sql.Rows) ([]Record, error) {
	defer rows.Close()
	records := make([]Record, 0, readPageSize)
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	return records, rows.Err()
}

// StreamHead is the state of a stream's last event.
type StreamHead struct {
	// Version is the stream's current version, 0 for a stream without events.
	Version int
	// Cursor is the last event's place in the log.
	Cursor Cursor
}

// ReadStreamHead returns the version and cursor of the stream's last event
// without reading the stream's other events. A stream without events, or
// another user's, has the zero StreamHead.
func ReadStreamHead(ctx context.Context, db DBTX, userID string, stream Stream) (StreamHead, error) {
	var head StreamHead
	rows, err := QueryAsUser(ctx, db, userID, `SELECT stream_version, transaction_id::text::bigint, position
		FROM events
		WHERE user_id = $1 AND stream_type = $2 AND stream_id = $3
		ORDER BY stream_version DESC
		LIMIT 1`, userID, stream.Type, stream.ID)
	if err == nil {
		err = scanOne(rows, &head.Version, &head.Cursor.TransactionID, &head.Cursor.Position)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return StreamHead{}, nil
	}
	if err != nil {
		return StreamHead{}, fmt.Errorf("reading the head of stream %s of user %s: %w", stream, userID, err)
	}
	return head, nil
}

// scanOne scans the first row of rows into dest and closes rows, or
// returns sql.ErrNoRows, as *sql.Row.Scan does.
func scanOne(rows *sql.Rows, dest ...any) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

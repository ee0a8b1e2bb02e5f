package events

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// Expected versions with a special meaning.
const (
	// AnyVersion skips the version check: the events go after whatever the
	// stream holds.
	AnyVersion = -1
	// NoStream expects the stream not to exist yet.
	NoStream = 0
)

// MaxEventsPerAppend bounds one append, which is one statement.
const MaxEventsPerAppend = 1000

// AppendRequest is one or more events for one stream of one user.
type AppendRequest struct {
	UserID string
	Stream Stream
	// ExpectedVersion is the stream version the writer decided on, NoStream
	// for a new stream, or AnyVersion.
	ExpectedVersion int
	// CommandID is the idempotency key; a second append with the same key
	// writes nothing and returns a *DuplicateError. Empty means a new UUID.
	CommandID string
	Metadata  Metadata
	// OccurredAt is when the change happened. Zero means now.
	OccurredAt time.Time
	Events     []Event
	// EventIDs, when set, gives each event its id; otherwise new UUIDs.
	EventIDs []uuid.UUID
	// SkipDuplicateLookup saves the look-up of an earlier append of
	// CommandID, for a caller that generated the id or looked it up itself.
	// The unique key still rejects a duplicate, as a *DuplicateError.
	SkipDuplicateLookup bool
}

// AppendResult describes appended events.
type AppendResult struct {
	UserID    string
	Stream    Stream
	CommandID string
	// TransactionID is the id of the transaction that wrote the events.
	TransactionID uint64
	// Positions holds each event's global position, in order.
	Positions []int64
	EventIDs  []uuid.UUID
	// StreamVersion is the stream's version after the last event.
	StreamVersion int
	// UserSequence is the user's sequence number of the last event.
	UserSequence int64
	RecordedAt   time.Time
}

// LastPosition returns the position of the last appended event.
func (r AppendResult) LastPosition() int64 {
	if len(r.Positions) == 0 {
		return 0
	}
	return r.Positions[len(r.Positions)-1]
}

// appendQuery calls the database function that checks the command id and
// inserts the events (migrations/000002_assign_sequence_and_hash.up.sql).
const appendQuery = `SELECT duplicate, position, transaction_id::text::bigint, event_id, stream_type,
	stream_id, stream_version, user_sequence, recorded_at, command_index
	FROM events_append($1, $2, $3, $4, $5, $6, $7, $8::uuid[], $9::text[], $10::integer[], $11::jsonb[], $12)`

// Append writes req's events to the log in one statement, scoped to
// req.UserID (QueryAsUser). Given a *sql.DB the append is its own
// transaction; given a transaction, the events commit or roll back with it.
//
// It returns a *ConflictError (errors.Is ErrConflict) when the stream is not
// at req.ExpectedVersion, and a *DuplicateError (errors.Is ErrDuplicate)
// when req.CommandID was appended before. A duplicate that races with the
// first append inside a caller's transaction aborts that transaction. The
// error's First is then empty, and ReadCommandResult returns it after the
// rollback.
func Append(ctx context.Context, db DBTX, req AppendRequest) (AppendResult, error) {
	args, err := appendArgs(&req)
	if err != nil {
		return AppendResult{}, err
	}

	rows, err := QueryAsUser(ctx, db, req.UserID, appendQuery, args...)
	if err != nil {
		return AppendResult{}, appendError(ctx, db, req, err)
	}
	result, duplicate, err := scanAppendResult(rows, req.UserID, req.CommandID)
	if err != nil {
		return AppendResult{}, appendError(ctx, db, req, err)
	}
	if duplicate {
		return AppendResult{}, &DuplicateError{UserID: req.UserID, CommandID: req.CommandID, First: result}
	}
	if _, committed := db.(*sql.DB); committed {
		Appends.Notify()
	}
	return result, nil
}

// appendArgs checks req, fills in its defaults and returns the query's
// arguments.
func appendArgs(req *AppendRequest) ([]any, error) {
	if err := CheckUserID(req.UserID); err != nil {
		return nil, err
	}
	if req.CommandID == "" {
		req.CommandID = uuid.NewString()
	}
	if err := CheckCommandID(req.CommandID); err != nil {
		return nil, err
	}
	if req.Stream.Type != StreamTask && req.Stream.Type != StreamConversation {
		return nil, fmt.Errorf("%w: stream type %q must be %q or %q", ErrInvalid, req.Stream.Type, StreamTask, StreamConversation)
	}
	if req.Stream.ID <= 0 {
		return nil, fmt.Errorf("%w: stream id %d must be positive", ErrInvalid, req.Stream.ID)
	}
	if req.ExpectedVersion < AnyVersion {
		return nil, fmt.Errorf("%w: expected version %d must be AnyVersion (-1), NoStream (0) or a version", ErrInvalid, req.ExpectedVersion)
	}
	if len(req.Events) == 0 || len(req.Events) > MaxEventsPerAppend {
		return nil, fmt.Errorf("%w: an append must have 1 to %d events, got %d", ErrInvalid, MaxEventsPerAppend, len(req.Events))
	}
	if req.EventIDs != nil && len(req.EventIDs) != len(req.Events) {
		return nil, fmt.Errorf("%w: %d event ids for %d events", ErrInvalid, len(req.EventIDs), len(req.Events))
	}
	if req.OccurredAt.IsZero() {
		req.OccurredAt = time.Now()
	}
	req.Metadata.CommandID = req.CommandID
	metadata, err := jsonMarshal(req.Metadata)
	if err != nil {
		return nil, err
	}

	ids := make([]string, len(req.Events))
	types := make([]string, len(req.Events))
	versions := make([]int64, len(req.Events))
	payloads := make([]string, len(req.Events))
	for i, e := range req.Events {
		eventType, version, payload, err := DefaultCodec.Encode(e)
		if err != nil {
			return nil, err
		}
		// PostgreSQL text and jsonb cannot hold NUL.
		if bytes.Contains(payload, []byte(`\u0000`)) {
			return nil, fmt.Errorf("%w: %s payload contains a NUL character", ErrInvalid, eventType)
		}
		if req.EventIDs != nil {
			ids[i] = req.EventIDs[i].String()
		} else {
			ids[i] = uuid.NewString()
		}
		types[i], versions[i], payloads[i] = eventType, int64(version), string(payload)
	}
	return []any{req.UserID, req.CommandID, req.Stream.Type, req.Stream.ID, req.ExpectedVersion,
		string(metadata), req.OccurredAt, pq.Array(ids), pq.Array(types), pq.Array(versions),
		pq.Array(payloads), !req.SkipDuplicateLookup}, nil
}

func scanAppendResult(rows *sql.Rows, userID, commandID string) (AppendResult, bool, error) {
	defer rows.Close()
	result := AppendResult{UserID: userID, CommandID: commandID}
	duplicate := false
	for rows.Next() {
		var position int64
		var eventID uuid.UUID
		var commandIndex int
		if err := rows.Scan(&duplicate, &position, &result.TransactionID, &eventID, &result.Stream.Type,
			&result.Stream.ID, &result.StreamVersion, &result.UserSequence, &result.RecordedAt,
			&commandIndex); err != nil {
			return AppendResult{}, false, err
		}
		result.Positions = append(result.Positions, position)
		result.EventIDs = append(result.EventIDs, eventID)
	}
	if err := rows.Err(); err != nil {
		return AppendResult{}, false, err
	}
	result.RecordedAt = result.RecordedAt.UTC()
	return result, duplicate, nil
}

// appendError turns a database error into the log's error types, with the
// user and stream for context.
func appendError(ctx context.Context, db DBTX, req AppendRequest, err error) error {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return fmt.Errorf("appending to stream %s of user %s: %w", req.Stream, req.UserID, err)
	}
	// Outside a caller's transaction the failed statement aborted only
	// itself, so the log can be read to explain the failure.
	_, inTx := db.(interface{ Commit() error })
	if pqErr.Code == "23505" && !inTx {
		// A racing append of the same command may have taken the stream
		// version first, so the command id is checked before the version.
		if first, found, readErr := ReadCommandResult(ctx, db, req.UserID, req.CommandID); readErr == nil && found {
			return &DuplicateError{UserID: req.UserID, CommandID: req.CommandID, First: first}
		}
	}
	switch {
	case pqErr.Code == "TL409":
		actual := -1
		if value, ok := strings.CutPrefix(pqErr.Detail, "current_version="); ok {
			actual, _ = strconv.Atoi(value)
		}
		return &ConflictError{UserID: req.UserID, Stream: req.Stream, Expected: req.ExpectedVersion, Actual: actual}
	case pqErr.Code == "23505" && strings.Contains(pqErr.Constraint, "stream_version"):
		conflict := &ConflictError{UserID: req.UserID, Stream: req.Stream, Expected: req.ExpectedVersion, Actual: -1}
		if !inTx {
			if head, readErr := ReadStreamHead(ctx, db, req.UserID, req.Stream); readErr == nil {
				conflict.Actual = head.Version
			}
		}
		return conflict
	case pqErr.Code == "23505" && strings.Contains(pqErr.Constraint, "command_id"):
		// Inside a caller's transaction the first result cannot be read
		// now; ReadCommandResult returns it after the rollback.
		return &DuplicateError{UserID: req.UserID, CommandID: req.CommandID}
	case pqErr.Code == "23505" && strings.Contains(pqErr.Constraint, "event_id"):
		return fmt.Errorf("%w: an event id of this append already exists for user %s", ErrDuplicate, req.UserID)
	case pqErr.Code.Class() == "23" || pqErr.Code.Class() == "22":
		return fmt.Errorf("%w: appending to stream %s of user %s: %s", ErrInvalid, req.Stream, req.UserID, pqErr.Message)
	default:
		return fmt.Errorf("appending to stream %s of user %s: %w", req.Stream, req.UserID, err)
	}
}

// ReadCommandResult returns the result of the append that wrote commandID,
// and false when no such append exists.
func ReadCommandResult(ctx context.Context, db DBTX, userID, commandID string) (AppendResult, bool, error) {
	rows, err := QueryAsUser(ctx, db, userID, `SELECT true, position, transaction_id::text::bigint, event_id,
		stream_type, stream_id, stream_version, user_sequence, recorded_at, command_index
		FROM events WHERE user_id = $1 AND command_id = $2 ORDER BY command_index`, userID, commandID)
	var result AppendResult
	if err == nil {
		result, _, err = scanAppendResult(rows, userID, commandID)
	}
	if err != nil {
		return AppendResult{}, false, fmt.Errorf("reading command %s of user %s: %w", commandID, userID, err)
	}
	return result, len(result.Positions) > 0, nil
}

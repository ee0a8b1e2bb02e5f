package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// DBTX is the part of *sql.DB, *sql.Tx, *sqlx.DB and *sqlx.Tx the log uses.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Metadata travels with every event of a command.
type Metadata struct {
	// CommandID is the command's idempotency key.
	CommandID string `json:"command_id,omitempty"`
	// CorrelationID ties together everything caused by one user request.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the message or event that caused this one.
	CausationID string `json:"causation_id,omitempty"`
	// Actor names who sent the command, such as "chat-backend".
	Actor string `json:"actor,omitempty"`
}

// Record is one stored event with the fields the database assigned.
type Record struct {
	Position      int64
	TransactionID uint64
	EventID       uuid.UUID
	UserID        string
	Stream        Stream
	StreamVersion int
	UserSequence  int64
	Type          string
	SchemaVersion int
	Payload       json.RawMessage
	Metadata      Metadata
	// MetadataJSON is the metadata as stored, including fields Metadata
	// does not name; the hash chain covers this form.
	MetadataJSON json.RawMessage
	CommandID    string
	CommandIndex int
	OccurredAt   time.Time
	RecordedAt   time.Time
	PreviousHash []byte
	Hash         []byte
}

// Decode returns the record's event through DefaultCodec.
func (r Record) Decode() (Event, error) {
	return DefaultCodec.Decode(r.Type, r.SchemaVersion, r.Payload)
}

// recordColumns lists the columns scanRecord reads, in order.
const recordColumns = `position, transaction_id::text::bigint, event_id, user_id, stream_type, stream_id,
	stream_version, user_sequence, event_type, schema_version, payload, metadata, command_id,
	command_index, occurred_at, recorded_at, previous_hash, hash`

type scanner interface {
	Scan(dest ...any) error
}

func scanRecord(row scanner) (Record, error) {
	var r Record
	var payload, metadata []byte
	err := row.Scan(&r.Position, &r.TransactionID, &r.EventID, &r.UserID, &r.Stream.Type, &r.Stream.ID,
		&r.StreamVersion, &r.UserSequence, &r.Type, &r.SchemaVersion, &payload, &metadata, &r.CommandID,
		&r.CommandIndex, &r.OccurredAt, &r.RecordedAt, &r.PreviousHash, &r.Hash)
	if err != nil {
		return Record{}, err
	}
	r.Payload = payload
	r.MetadataJSON = metadata
	if err := json.Unmarshal(metadata, &r.Metadata); err != nil {
		return Record{}, err
	}
	r.OccurredAt = r.OccurredAt.UTC()
	r.RecordedAt = r.RecordedAt.UTC()
	return r, nil
}

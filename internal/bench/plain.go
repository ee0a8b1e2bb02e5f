package bench

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"
)

// Title is the task title every write benchmark stores.
const Title = "buy oat milk and two loaves of bread"

// CreatePlainEvents creates plain_events, a table with the columns of the
// event log but unpartitioned, with one primary key and no triggers: the
// baseline that write benchmarks compare against.
func CreatePlainEvents(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS plain_events (
		position bigserial PRIMARY KEY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
		event_id uuid NOT NULL, user_id text NOT NULL, stream_type text NOT NULL, stream_id bigint NOT NULL,
		stream_version integer NOT NULL, user_sequence bigint NOT NULL, event_type text NOT NULL,
		schema_version integer NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL,
		command_id text NOT NULL, command_index integer NOT NULL, occurred_at timestamptz NOT NULL,
		recorded_at timestamptz NOT NULL DEFAULT now(), previous_hash bytea, hash bytea NOT NULL)`)
	if err != nil {
		return fmt.Errorf("creating the baseline table plain_events: %w", err)
	}
	return nil
}

var plainIDs atomic.Int64

// PlainInsert writes one TaskAdded-shaped row for user into plain_events
// with a single-row INSERT.
func PlainInsert(ctx context.Context, db *sql.DB, user string) error {
	id := plainIDs.Add(1)
	payload := fmt.Sprintf(`{"task_id": %d, "title": %q, "description": ""}`, id, Title)
	_, err := db.ExecContext(ctx, `INSERT INTO plain_events (event_id, user_id, stream_type, stream_id, stream_version,
		user_sequence, event_type, schema_version, payload, metadata, command_id, command_index, occurred_at, hash)
		VALUES ($1, $2, 'task', $3, 1, $3, 'TaskAdded', 1, $4::jsonb, $5, $6, 0, now(), sha256(convert_to($4::text, 'UTF8')))`,
		uuid.New(), user, id, payload, `{"command_id": "`+uuid.NewString()+`"}`, uuid.NewString())
	return err
}

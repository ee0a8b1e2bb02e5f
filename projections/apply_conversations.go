package projections

import (
	"context"

	"github.com/todolog/todolog/events"
)

// applyConversationEvent applies one event of a conversation stream to the
// conversations and messages tables.
func applyConversationEvent(ctx context.Context, db events.DBTX, r events.Record, e events.Event) (bool, error) {
	switch e := e.(type) {
	case events.ConversationStarted:
		if e.ConversationID != r.Stream.ID {
			return false, poisonf("payload conversation_id %d does not match stream %s", e.ConversationID, r.Stream)
		}
		return insertConversation(ctx, db, r)
	case events.MessageAppended:
		if e.ConversationID != r.Stream.ID {
			return false, poisonf("payload conversation_id %d does not match stream %s", e.ConversationID, r.Stream)
		}
		return insertMessage(ctx, db, r, e)
	default:
		return false, poisonf("%s does not belong on conversation stream %s", r.Type, r.Stream)
	}
}

func insertConversation(ctx context.Context, db events.DBTX, r events.Record) (bool, error) {
	result, err := db.ExecContext(ctx, `INSERT INTO conversations
		(id, user_id, created_at, updated_at, stream_version, last_position)
		VALUES ($1, $2, $3, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`,
		r.Stream.ID, r.UserID, r.OccurredAt, r.StreamVersion, r.Position)
	if err != nil {
		return false, err
	}
	if inserted, err := result.RowsAffected(); err != nil || inserted == 1 {
		return inserted == 1, err
	}
	return false, checkAlreadyApplied(ctx, db, "conversations", "conversation", r)
}

// insertMessage adds the message and moves its conversation's version and
// updated_at in one statement. When the conversation is already at the
// event's version or later, neither happens.
func insertMessage(ctx context.Context, db events.DBTX, r events.Record, e events.MessageAppended) (bool, error) {
	// Parameters in an INSERT ... SELECT list get no type from the target
	// columns, hence the casts.
	result, err := db.ExecContext(ctx, `WITH conversation AS (
		    UPDATE conversations SET updated_at = $5, stream_version = $6, last_position = $7
		     WHERE id = $2 AND user_id = $1 AND stream_version < $6
		    RETURNING id
		)
		INSERT INTO messages (id, user_id, conversation_id, role, content, created_at, stream_version, position)
		SELECT $3::bigint, $1::text, id, $4::text, $8::text, $5::timestamptz, $6::integer, $7::bigint
		  FROM conversation`,
		r.UserID, r.Stream.ID, e.MessageID, e.Role, r.OccurredAt, r.StreamVersion, r.Position, e.Content)
	if err != nil {
		return false, err
	}
	if inserted, err := result.RowsAffected(); err != nil || inserted == 1 {
		return inserted == 1, err
	}
	return false, checkAlreadyApplied(ctx, db, "conversations", "conversation", r)
}

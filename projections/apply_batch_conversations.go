package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
)

// conversationRow is one row of the conversations table.
type conversationRow struct {
	userID       string
	createdAt    time.Time
	updatedAt    time.Time
	version      int
	lastPosition int64
}

// messageRow is one row of the messages table.
type messageRow struct {
	id             int64
	userID         string
	conversationID int64
	role           string
	content        string
	createdAt      time.Time
	version        int
	position       int64
}

// conversationBatch is the batchWriter of the conversations projection.
// Conversations are never deleted and messages never change, so it only
// updates and inserts conversations and inserts messages.
type conversationBatch struct {
	// stored holds the rows as load read them, by conversation id. A nil
	// value means no row.
	stored map[int64]*conversationRow
	// rows holds the rows after the folded events. fold replaces a row
	// rather than changing it, so stored stays as read.
	rows map[int64]*conversationRow
	// changed lists the ids of the rows fold replaced, in the order of
	// their first change.
	changed  []int64
	isDirty  map[int64]bool
	messages []messageRow
}

func newConversationBatch() *conversationBatch {
	return &conversationBatch{stored: map[int64]*conversationRow{}, rows: map[int64]*conversationRow{},
		isDirty: map[int64]bool{}}
}

func (b *conversationBatch) load(ctx context.Context, db events.DBTX, records []events.Record) error {
	var ids []int64
	for _, r := range records {
		if r.Stream.Type != events.StreamConversation {
			continue
		}
		if _, seen := b.stored[r.Stream.ID]; !seen {
			b.stored[r.Stream.ID] = nil
			ids = append(ids, r.Stream.ID)
		}
	}
	if len(ids) > 0 {
		rows, err := db.QueryContext(ctx, `SELECT id, user_id, created_at, updated_at, stream_version, last_position
			FROM conversations WHERE id = ANY($1::bigint[])`, pq.Array(ids))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var row conversationRow
			if err := rows.Scan(&id, &row.userID, &row.createdAt, &row.updatedAt, &row.version, &row.lastPosition); err != nil {
				return err
			}
			b.stored[id] = &row
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for id, row := range b.stored {
		b.rows[id] = row
	}
	return nil
}

// fold follows applyConversationEvent and the statements it runs, given
// the row of the event's conversation.
func (b *conversationBatch) fold(r events.Record, e events.Event) (bool, bool) {
	row, loaded := b.rows[r.Stream.ID]
	if !loaded {
		return false, false
	}
	switch e := e.(type) {
	case events.ConversationStarted:
		if e.ConversationID != r.Stream.ID {
			return false, false
		}
		if row == nil {
			b.set(r.Stream.ID, &conversationRow{userID: r.UserID, createdAt: r.OccurredAt, updatedAt: r.OccurredAt,
				version: r.StreamVersion, lastPosition: r.Position})
			return true, true
		}
		return false, appliedBefore(row.userID, row.version, r)
	case events.MessageAppended:
		if e.ConversationID != r.Stream.ID || row == nil || row.userID != r.UserID {
			return false, false
		}
		if row.version >= r.StreamVersion {
			return false, true
		}
		next := *row
		next.updatedAt, next.version, next.lastPosition = r.OccurredAt, r.StreamVersion, r.Position
		b.set(r.Stream.ID, &next)
		b.messages = append(b.messages, messageRow{id: e.MessageID, userID: r.UserID, conversationID: r.Stream.ID,
			role: e.Role, content: e.Content, createdAt: r.OccurredAt, version: r.StreamVersion, position: r.Position})
		return true, true
	default:
		return false, false
	}
}

func (b *conversationBatch) set(id int64, row *conversationRow) {
	if !b.isDirty[id] {
		b.isDirty[id] = true
		b.changed = append(b.changed, id)
	}
	b.rows[id] = row
}

// write updates the conversations that changed, inserts the new ones, then
// inserts the messages, whose foreign key needs their conversations. An
// update matches the row as load read it, id, owner and stream version,
// and fails with a rowsChangedError when a row no longer matches. Inserts
// fail on a primary or unique key when a row is already there. The update
// repeats its join key as id = ANY($1) for the reason taskBatch.write
// gives.
func (b *conversationBatch) write(ctx context.Context, db events.DBTX) error {
	var updates, inserts []int64
	for _, id := range b.changed {
		if b.stored[id] == nil {
			inserts = append(inserts, id)
		} else {
			updates = append(updates, id)
		}
	}
	if err := b.updateConversations(ctx, db, updates); err != nil {
		return err
	}
	if err := b.insertConversations(ctx, db, inserts); err != nil {
		return err
	}
	return b.insertMessages(ctx, db)
}

func (b *conversationBatch) updateConversations(ctx context.Context, db events.DBTX, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	users := make([]string, len(ids))
	storedVersions := make([]int64, len(ids))
	updatedAt := make([]string, len(ids))
	versions := make([]int64, len(ids))
	lastPositions := make([]int64, len(ids))
	for i, id := range ids {
		row := b.rows[id]
		users[i], storedVersions[i] = row.userID, int64(b.stored[id].version)
		updatedAt[i], versions[i], lastPositions[i] = timestampText(row.updatedAt), int64(row.version), row.lastPosition
	}
	result, err := db.ExecContext(ctx, `UPDATE conversations c
		SET updated_at = d.updated_at, stream_version = d.stream_version, last_position = d.last_position
		FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::timestamptz[], $5::integer[], $6::bigint[])
		     AS d (id, user_id, stored_version, updated_at, stream_version, last_position)
		WHERE c.id = ANY($1::bigint[]) AND c.id = d.id AND c.user_id = d.user_id AND c.stream_version = d.stored_version`,
		pq.Array(ids), pq.Array(users), pq.Array(storedVersions), pq.Array(updatedAt), pq.Array(versions),
		pq.Array(lastPositions))
	if err != nil {
		return fmt.Errorf("updating %d conversations: %w", len(ids), err)
	}
	updated, err := result.RowsAffected()
	if err != nil {
		return err
	}
	return checkRowsAffected("conversations", "UPDATE", updated, len(ids))
}

func (b *conversationBatch) insertConversations(ctx context.Context, db events.DBTX, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	users := make([]string, len(ids))
	createdAt := make([]string, len(ids))
	updatedAt := make([]string, len(ids))
	versions := make([]int64, len(ids))
	lastPositions := make([]int64, len(ids))
	for i, id := range ids {
		row := b.rows[id]
		users[i], createdAt[i], updatedAt[i] = row.userID, timestampText(row.createdAt), timestampText(row.updatedAt)
		versions[i], lastPositions[i] = int64(row.version), row.lastPosition
	}
	_, err := db.ExecContext(ctx, `INSERT INTO conversations
		(id, user_id, created_at, updated_at, stream_version, last_position)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::integer[], $6::bigint[])`,
		pq.Array(ids), pq.Array(users), pq.Array(createdAt), pq.Array(updatedAt), pq.Array(versions),
		pq.Array(lastPositions))
	if err != nil {
		return fmt.Errorf("inserting %d conversations: %w", len(ids), err)
	}
	return nil
}

func (b *conversationBatch) insertMessages(ctx context.Context, db events.DBTX) error {
	n := len(b.messages)
	if n == 0 {
		return nil
	}
	ids := make([]int64, n)
	users := make([]string, n)
	conversationIDs := make([]int64, n)
	roles := make([]string, n)
	contents := make([]string, n)
	createdAt := make([]string, n)
	versions := make([]int64, n)
	positions := make([]int64, n)
	for i, m := range b.messages {
		ids[i], users[i], conversationIDs[i], roles[i] = m.id, m.userID, m.conversationID, m.role
		contents[i], createdAt[i], versions[i], positions[i] = m.content, timestampText(m.createdAt), int64(m.version), m.position
	}
	_, err := db.ExecContext(ctx, `INSERT INTO messages
		(id, user_id, conversation_id, role, content, created_at, stream_version, position)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[],
		                     $7::integer[], $8::bigint[])`,
		pq.Array(ids), pq.Array(users), pq.Array(conversationIDs), pq.Array(roles), pq.Array(contents),
		pq.Array(createdAt), pq.Array(versions), pq.Array(positions))
	if err != nil {
		return fmt.Errorf("inserting %d messages: %w", n, err)
	}
	return nil
}

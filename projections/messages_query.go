package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/todolog/todolog/events"
)

// Message is one row of the messages table.
type Message struct {
	ID             int64
	UserID         string
	ConversationID int64
	Role           string
	Content        string
	CreatedAt      time.Time
}

// MessagePage selects which messages of a conversation ListMessages
// returns. The zero value selects all of them.
type MessagePage struct {
	// AfterID, when not zero, returns only the messages after that one,
	// which must belong to the conversation. This is how a client catches
	// up from the last message it has.
	AfterID int64
	// Limit, when positive, caps the result: the latest Limit messages
	// without AfterID, the first Limit after AfterID with it.
	Limit int
}

const messageColumns = `id, user_id, conversation_id, role, content, created_at`

// ListMessages returns messages of one of the user's conversations, oldest
// first, in the order they were appended. It returns ErrNotFound when the
// user has no such conversation, or page.AfterID is not one of its
// messages.
func ListMessages(ctx context.Context, db events.DBTX, userID string, conversationID int64, page MessagePage) ([]Message, error) {
	return asUser(ctx, db, userID, func(db events.DBTX) ([]Message, error) {
		return listMessages(ctx, db, userID, conversationID, page)
	})
}

func listMessages(ctx context.Context, db events.DBTX, userID string, conversationID int64, page MessagePage) ([]Message, error) {
	if page.AfterID < 0 || page.Limit < 0 {
		return nil, fmt.Errorf("%w: message page needs an after id and a limit of 0 or more, got %d and %d",
			events.ErrInvalid, page.AfterID, page.Limit)
	}
	if _, err := getConversation(ctx, db, userID, conversationID); err != nil {
		return nil, err
	}

	// The limit is $3 in both queries, and NULL means no limit.
	var limit any
	if page.Limit > 0 {
		limit = page.Limit
	}
	var query string
	var args []any
	if page.AfterID == 0 {
		query = `SELECT ` + messageColumns + ` FROM (
			    SELECT * FROM messages WHERE user_id = $1 AND conversation_id = $2
			     ORDER BY stream_version DESC LIMIT $3
			) latest ORDER BY stream_version`
		args = []any{userID, conversationID, limit}
	} else {
		afterVersion, err := messageVersion(ctx, db, userID, conversationID, page.AfterID)
		if err != nil {
			return nil, err
		}
		query = `SELECT ` + messageColumns + ` FROM messages
			WHERE user_id = $1 AND conversation_id = $2 AND stream_version > $4
			ORDER BY stream_version LIMIT $3`
		args = []any{userID, conversationID, limit, afterVersion}
	}

	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing messages of conversation %d of user %s: %w", conversationID, userID, err)
	}
	defer rows.Close()
	messages := []Message{}
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.UserID, &m.ConversationID, &m.Role, &m.Content, &m.CreatedAt); err != nil {
			return nil, fmt.Errorf("listing messages of conversation %d of user %s: %w", conversationID, userID, err)
		}
		m.CreatedAt = m.CreatedAt.UTC()
		messages = append(messages, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing messages of conversation %d of user %s: %w", conversationID, userID, err)
	}
	return messages, nil
}

// messageVersion returns the message's place in its conversation.
func messageVersion(ctx context.Context, db events.DBTX, userID string, conversationID, messageID int64) (int, error) {
	var version int
	err := db.QueryRowContext(ctx, `SELECT stream_version FROM messages
		WHERE user_id = $1 AND conversation_id = $2 AND id = $3`, userID, conversationID, messageID).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("message %d in conversation %d of user %s: %w", messageID, conversationID, userID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("reading message %d of user %s: %w", messageID, userID, err)
	}
	return version, nil
}

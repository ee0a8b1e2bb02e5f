package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/todolog/todolog/events"
)

// Conversation is one row of the conversations table.
type Conversation struct {
	ID        int64
	UserID    string
	CreatedAt time.Time
	// UpdatedAt is when the latest message was appended, or CreatedAt for
	// a conversation without messages.
	UpdatedAt time.Time
	// Version is the conversation stream's version after the last event
	// applied.
	Version int
}

const conversationColumns = `id, user_id, created_at, updated_at, stream_version`

func scanConversation(row rowScanner) (Conversation, error) {
	var c Conversation
	err := row.Scan(&c.ID, &c.UserID, &c.CreatedAt, &c.UpdatedAt, &c.Version)
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, err
}

// ListConversations returns the user's conversations, newest first by
// their latest activity (UpdatedAt), then by id. A positive limit returns
// only that many, and zero returns all.
func ListConversations(ctx context.Context, db events.DBTX, userID string, limit int) ([]Conversation, error) {
	return listConversations(ctx, db, userID, limit)
}

func listConversations(ctx context.Context, db events.DBTX, userID string, limit int) ([]Conversation, error) {
	if err := events.CheckUserID(userID); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("%w: conversation limit must be 0 (no limit) or positive, got %d", events.ErrInvalid, limit)
	}
	query := `SELECT ` + conversationColumns + ` FROM conversations WHERE user_id = $1
		ORDER BY updated_at DESC, id DESC`
	if limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := events.QueryAsUser(ctx, db, userID, query, userID)
	if err != nil {
		return nil, fmt.Errorf("listing conversations of user %s: %w", userID, err)
	}
	defer rows.Close()
	conversations := []Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("listing conversations of user %s: %w", userID, err)
		}
		conversations = append(conversations, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing conversations of user %s: %w", userID, err)
	}
	return conversations, nil
}

// GetConversation returns one of the user's conversations, or ErrNotFound
// when the user has no conversation with that id.
func GetConversation(ctx context.Context, db events.DBTX, userID string, conversationID int64) (Conversation, error) {
	return getConversation(ctx, db, userID, conversationID)
}

func getConversation(ctx context.Context, db events.DBTX, userID string, conversationID int64) (Conversation, error) {
	if err := events.CheckUserID(userID); err != nil {
		return Conversation{}, err
	}
	c, err := scanConversation(queryRowAsUser(ctx, db, userID, `SELECT `+conversationColumns+` FROM conversations
		WHERE user_id = $1 AND id = $2`, userID, conversationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, fmt.Errorf("conversation %d of user %s: %w", conversationID, userID, ErrNotFound)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("reading conversation %d of user %s: %w", conversationID, userID, err)
	}
	return c, nil
}

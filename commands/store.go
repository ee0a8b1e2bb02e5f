package commands

import (
	"context"
	"fmt"

	"github.com/todolog/todolog/events"
)

// nextIDQueries draws one id of each kind from the sequences created by
// migrations/000004_create_id_sequences.up.sql.
var nextIDQueries = map[IDKind]string{
	TaskID:         `SELECT nextval('task_id_seq')`,
	ConversationID: `SELECT nextval('conversation_id_seq')`,
	MessageID:      `SELECT nextval('message_id_seq')`,
}

// allocator returns an AllocateID that draws from the database sequences.
// A sequence value is never given out twice, even when the command that
// drew it fails, so ids can have gaps. Sequences hold no user's rows, so
// the draw runs with the login's own privilege on them, which the owner has
// and a member of events.AppRole inherits, and saves the role switch.
func allocator(ctx context.Context, db events.DBTX) AllocateID {
	return func(kind IDKind) (int64, error) {
		query, ok := nextIDQueries[kind]
		if !ok {
			return 0, fmt.Errorf("allocating an id: unknown %s", kind)
		}
		var id int64
		if err := db.QueryRowContext(ctx, query).Scan(&id); err != nil {
			return 0, fmt.Errorf("allocating a %s: %w", kind, err)
		}
		return id, nil
	}
}

// loadTask folds the stream of task id of userID. Another user's task reads
// as a stream that does not exist.
func loadTask(ctx context.Context, db events.DBTX, userID string, id int64) (TaskState, error) {
	var history []events.Event
	var head events.Cursor
	for record, err := range events.ReadStream(ctx, db, userID, events.TaskStream(id), 0) {
		if err != nil {
			return TaskState{}, err
		}
		if record.StreamVersion != len(history)+1 {
			return TaskState{}, fmt.Errorf("task %d of user %s: stream version %d follows %d",
				id, userID, record.StreamVersion, len(history))
		}
		e, err := record.Decode()
		if err != nil {
			return TaskState{}, fmt.Errorf("task %d of user %s at position %d: %w", id, userID, record.Position, err)
		}
		history = append(history, e)
		head = events.CursorOf(record)
	}
	state, err := FoldTask(id, history)
	if err != nil {
		return TaskState{}, fmt.Errorf("user %s: %w", userID, err)
	}
	state.Head = head
	return state, nil
}

// loadConversation reads the head of the stream of conversation id of
// userID, which is all the AppendMessage decision needs. Reading every
// message, up to MaxContentLength characters each, would make each append
// cost more as the conversation grows.
func loadConversation(ctx context.Context, db events.DBTX, userID string, id int64) (ConversationState, error) {
	head, err := events.ReadStreamHead(ctx, db, userID, events.ConversationStream(id))
	if err != nil {
		return ConversationState{}, err
	}
	return ConversationState{ID: id, Version: head.Version, Head: head.Cursor}, nil
}

// readAppended returns the events an earlier append of first.CommandID
// wrote, to rebuild its result.
func readAppended(ctx context.Context, db events.DBTX, first events.AppendResult) ([]events.Event, error) {
	count := len(first.Positions)
	written := make([]events.Event, 0, count)
	after := first.StreamVersion - count
	for record, err := range events.ReadStream(ctx, db, first.UserID, first.Stream, after) {
		if err != nil {
			return nil, err
		}
		if record.CommandID != first.CommandID {
			break
		}
		e, err := record.Decode()
		if err != nil {
			return nil, fmt.Errorf("command %s of user %s at position %d: %w",
				first.CommandID, first.UserID, record.Position, err)
		}
		written = append(written, e)
		if len(written) == count {
			break
		}
	}
	if len(written) != count {
		return nil, fmt.Errorf("command %s of user %s: found %d of its %d events in stream %s",
			first.CommandID, first.UserID, len(written), count, first.Stream)
	}
	return written, nil
}

package replay

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/todolog/todolog/events"
)

// Point selects where a replay stops: the zero Point replays everything.
type Point struct {
	// Until, when set, keeps only events that occurred at or before it.
	Until time.Time
	// UpTo, when positive, keeps only events with a user sequence at or
	// below it.
	UpTo int64
}

func (p Point) includes(r events.Record) bool {
	if p.UpTo > 0 && r.UserSequence > p.UpTo {
		return false
	}
	if !p.Until.IsZero() && r.OccurredAt.After(p.Until) {
		return false
	}
	return true
}

// Task is a task as it stood at the replayed point.
type Task struct {
	ID          int64     `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Completed   bool      `json:"completed"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Message is a message as it stood at the replayed point.
type Message struct {
	ID        int64     `json:"id"`
	Role      string    `json:"role"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// Conversation is a conversation with its messages in order.
type Conversation struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Messages  []Message `json:"messages"`
}

// State is one user's tasks and conversations at a point of the history.
type State struct {
	UserID string `json:"user_id"`
	// Sequence is the user sequence of the last event applied.
	Sequence      int64          `json:"sequence"`
	Tasks         []Task         `json:"tasks"`
	Conversations []Conversation `json:"conversations"`
}

// StateAt replays userID's events up to point and returns the live tasks
// (deleted ones left out) and the conversations, both in id order. It folds
// the events itself rather than reading the read tables, so it also serves
// as an independent check of the projections.
func StateAt(ctx context.Context, db events.DBTX, userID string, point Point) (State, error) {
	tasks := map[int64]*Task{}
	conversations := map[int64]*Conversation{}
	state := State{UserID: userID}
	for r, err := range events.ReadUser(ctx, db, userID, 0) {
		if err != nil {
			return State{}, err
		}
		if point.UpTo > 0 && r.UserSequence > point.UpTo {
			break
		}
		if !point.includes(r) {
			continue
		}
		if err := fold(tasks, conversations, r); err != nil {
			return State{}, fmt.Errorf("replaying user %s at sequence %d: %w", userID, r.UserSequence, err)
		}
		state.Sequence = r.UserSequence
	}
	for _, t := range tasks {
		state.Tasks = append(state.Tasks, *t)
	}
	for _, c := range conversations {
		state.Conversations = append(state.Conversations, *c)
	}
	slices.SortFunc(state.Tasks, func(a, b Task) int { return compareIDs(a.ID, b.ID) })
	slices.SortFunc(state.Conversations, func(a, b Conversation) int { return compareIDs(a.ID, b.ID) })
	return state, nil
}

func compareIDs(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fold applies one event to the state maps.
func fold(tasks map[int64]*Task, conversations map[int64]*Conversation, r events.Record) error {
	event, err := r.Decode()
	if err != nil {
		return err
	}
	at := r.OccurredAt
	taskOf := func(id int64) (*Task, error) {
		t, ok := tasks[id]
		if !ok {
			return nil, fmt.Errorf("%s for task %d, which is not live", r.Type, id)
		}
		t.UpdatedAt = at
		return t, nil
	}
	switch e := event.(type) {
	case events.TaskAdded:
		tasks[e.TaskID] = &Task{ID: e.TaskID, Title: e.Title, Description: e.Description, CreatedAt: at, UpdatedAt: at}
	case events.TaskUpdated:
		t, err := taskOf(e.TaskID)
		if err != nil {
			return err
		}
		if e.Title != nil {
			t.Title = *e.Title
		}
		if e.Description != nil {
			t.Description = *e.Description
		}
	case events.TaskCompleted:
		t, err := taskOf(e.TaskID)
		if err != nil {
			return err
		}
		t.Completed = true
	case events.TaskReopened:
		t, err := taskOf(e.TaskID)
		if err != nil {
			return err
		}
		t.Completed = false
	case events.TaskDeleted:
		if _, err := taskOf(e.TaskID); err != nil {
			return err
		}
		delete(tasks, e.TaskID)
	case events.ConversationStarted:
		conversations[e.ConversationID] = &Conversation{ID: e.ConversationID, CreatedAt: at, UpdatedAt: at, Messages: []Message{}}
	case events.MessageAppended:
		c, ok := conversations[e.ConversationID]
		if !ok {
			return fmt.Errorf("message %d for conversation %d, which was not started", e.MessageID, e.ConversationID)
		}
		c.Messages = append(c.Messages, Message{ID: e.MessageID, Role: e.Role, Content: e.Content, CreatedAt: at})
		c.UpdatedAt = at
	default:
		return fmt.Errorf("no replay rule for %s", r.Type)
	}
	return nil
}

package commands

import (
	"fmt"

	"github.com/todolog/todolog/events"
)

// TaskState is a task as the events of its stream leave it: the input of
// the task decisions.
type TaskState struct {
	ID int64
	// Version is the stream version of the last event; 0 means the task
	// stream does not exist for this user.
	Version     int
	Title       string
	Description string
	Completed   bool
	Deleted     bool
	// Head is the log cursor of the stream's last event; an unchanged
	// result's consistency token points at it.
	Head events.Cursor
}

// Exists reports whether the task was added and not deleted.
func (s TaskState) Exists() bool { return s.Version > 0 && !s.Deleted }

// FoldTask returns the state of task id after history, the events of its
// stream in version order. It fails on a history the decisions never write,
// such as an event before TaskAdded or after TaskDeleted.
func FoldTask(id int64, history []events.Event) (TaskState, error) {
	state := TaskState{ID: id}
	for _, e := range history {
		if err := state.apply(e); err != nil {
			return TaskState{}, fmt.Errorf("task %d, stream version %d: %w", id, state.Version+1, err)
		}
		state.Version++
	}
	return state, nil
}

func (s *TaskState) apply(e events.Event) error {
	if s.Deleted {
		return fmt.Errorf("%s after %s", e.EventType(), events.TypeTaskDeleted)
	}
	if _, added := e.(events.TaskAdded); added != (s.Version == 0) {
		return fmt.Errorf("%s at the wrong place: a task stream starts with its only %s",
			e.EventType(), events.TypeTaskAdded)
	}
	switch e := e.(type) {
	case events.TaskAdded:
		s.Title, s.Description = e.Title, e.Description
	case events.TaskUpdated:
		if e.Title != nil {
			s.Title = *e.Title
		}
		if e.Description != nil {
			s.Description = *e.Description
		}
	case events.TaskCompleted:
		s.Completed = true
	case events.TaskReopened:
		s.Completed = false
	case events.TaskDeleted:
		s.Deleted = true
	default:
		return fmt.Errorf("%s does not belong in a task stream", e.EventType())
	}
	return nil
}

// ConversationState is the part of a conversation the AppendMessage
// decision needs: whether it exists and its stream's head. Messages never
// change a conversation's state, so reading its events would only cost time.
type ConversationState struct {
	ID int64
	// Version is the stream version of the last event; 0 means the
	// conversation does not exist for this user.
	Version int
	// Head is the log cursor of the stream's last event.
	Head events.Cursor
}

// Exists reports whether the conversation was started.
func (s ConversationState) Exists() bool { return s.Version > 0 }

package commands

import (
	"fmt"

	"github.com/todolog/todolog/events"
)

// IDKind selects which sequence a new user-visible id comes from.
type IDKind int

// The kinds of ids allocated when a command is handled.
const (
	TaskID IDKind = iota + 1
	ConversationID
	MessageID
)

// String returns the kind's name for error messages, such as "task id".
func (k IDKind) String() string {
	switch k {
	case TaskID:
		return "task id"
	case ConversationID:
		return "conversation id"
	case MessageID:
		return "message id"
	default:
		return fmt.Sprintf("IDKind(%d)", int(k))
	}
}

// AllocateID returns a new id of a kind. Decisions call it only after they
// accept a command, so a rejected command consumes no id.
type AllocateID func(kind IDKind) (int64, error)

// Decision is the outcome of deciding a command: the events to append to
// one stream, or none and a note.
type Decision struct {
	Stream events.Stream
	// Events are appended in order; none means nothing would change.
	Events []events.Event
	// Note explains to people why Events is empty.
	Note string
}

// DecideAddTask allocates a task id and returns the TaskAdded that starts
// the task's stream, with the title trimmed.
func DecideAddTask(cmd AddTask, allocate AllocateID) (Decision, error) {
	id, err := allocate(TaskID)
	if err != nil {
		return Decision{}, err
	}
	added := events.TaskAdded{TaskID: id, Title: normalizeTitle(cmd.Title), Description: cmd.Description}
	return Decision{Stream: events.TaskStream(id), Events: []events.Event{added}}, nil
}

// DecideUpdateTask returns a TaskUpdated holding only the fields whose new
// value differs from the current one, or no events when none differs.
func DecideUpdateTask(state TaskState, cmd UpdateTask) (Decision, error) {
	if err := requireTask(state, cmd.UserID); err != nil {
		return Decision{}, err
	}
	update := events.TaskUpdated{TaskID: state.ID}
	if cmd.Title != nil {
		if title := normalizeTitle(*cmd.Title); title != state.Title {
			update.Title = &title
		}
	}
	if cmd.Description != nil && *cmd.Description != state.Description {
		description := *cmd.Description
		update.Description = &description
	}
	decision := Decision{Stream: events.TaskStream(state.ID)}
	if update.Title == nil && update.Description == nil {
		decision.Note = fmt.Sprintf("task %d already has these values, so nothing changed", state.ID)
		return decision, nil
	}
	decision.Events = []events.Event{update}
	return decision, nil
}

// DecideCompleteTask returns a TaskCompleted, or no events when the task is
// already completed.
func DecideCompleteTask(state TaskState, cmd CompleteTask) (Decision, error) {
	if err := requireTask(state, cmd.UserID); err != nil {
		return Decision{}, err
	}
	decision := Decision{Stream: events.TaskStream(state.ID)}
	if state.Completed {
		decision.Note = fmt.Sprintf("task %d is already completed, so nothing changed", state.ID)
		return decision, nil
	}
	decision.Events = []events.Event{events.TaskCompleted{TaskID: state.ID}}
	return decision, nil
}

// DecideReopenTask returns a TaskReopened, or no events when the task is
// already open.
func DecideReopenTask(state TaskState, cmd ReopenTask) (Decision, error) {
	if err := requireTask(state, cmd.UserID); err != nil {
		return Decision{}, err
	}
	decision := Decision{Stream: events.TaskStream(state.ID)}
	if !state.Completed {
		decision.Note = fmt.Sprintf("task %d is already open, so nothing changed", state.ID)
		return decision, nil
	}
	decision.Events = []events.Event{events.TaskReopened{TaskID: state.ID}}
	return decision, nil
}

// DecideDeleteTask returns a TaskDeleted. Deleting a deleted task fails
// with ErrNotFound, like every other command on it.
func DecideDeleteTask(state TaskState, cmd DeleteTask) (Decision, error) {
	if err := requireTask(state, cmd.UserID); err != nil {
		return Decision{}, err
	}
	return Decision{
		Stream: events.TaskStream(state.ID),
		Events: []events.Event{events.TaskDeleted{TaskID: state.ID}},
	}, nil
}

// DecideStartConversation allocates a conversation id and returns the
// ConversationStarted that starts its stream.
func DecideStartConversation(_ StartConversation, allocate AllocateID) (Decision, error) {
	id, err := allocate(ConversationID)
	if err != nil {
		return Decision{}, err
	}
	return Decision{
		Stream: events.ConversationStream(id),
		Events: []events.Event{events.ConversationStarted{ConversationID: id}},
	}, nil
}

// DecideAppendMessage allocates a message id and returns its
// MessageAppended. Without a conversation id in cmd it ignores state,
// allocates a conversation id too and returns ConversationStarted followed
// by the message, both for the new stream.
func DecideAppendMessage(state ConversationState, cmd AppendMessage, allocate AllocateID) (Decision, error) {
	var decision Decision
	conversationID := cmd.ConversationID
	if conversationID == 0 {
		id, err := allocate(ConversationID)
		if err != nil {
			return Decision{}, err
		}
		conversationID = id
		decision.Events = append(decision.Events, events.ConversationStarted{ConversationID: id})
	} else if !state.Exists() {
		return Decision{}, fmt.Errorf("conversation %d of user %s: %w", conversationID, cmd.UserID, ErrNotFound)
	}

	messageID, err := allocate(MessageID)
	if err != nil {
		return Decision{}, err
	}
	decision.Stream = events.ConversationStream(conversationID)
	decision.Events = append(decision.Events, events.MessageAppended{
		ConversationID: conversationID,
		MessageID:      messageID,
		Role:           cmd.Role,
		Content:        cmd.Content,
	})
	return decision, nil
}

// requireTask returns ErrNotFound unless the task exists and is not
// deleted.
func requireTask(state TaskState, userID string) error {
	switch {
	case state.Version == 0:
		return fmt.Errorf("task %d of user %s: %w", state.ID, userID, ErrNotFound)
	case state.Deleted:
		return fmt.Errorf("task %d of user %s was deleted: %w", state.ID, userID, ErrNotFound)
	default:
		return nil
	}
}

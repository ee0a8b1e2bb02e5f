package events

// Event type names as stored in the log's event_type column.
const (
	TypeTaskAdded           = "TaskAdded"
	TypeTaskUpdated         = "TaskUpdated"
	TypeTaskCompleted       = "TaskCompleted"
	TypeTaskReopened        = "TaskReopened"
	TypeTaskDeleted         = "TaskDeleted"
	TypeConversationStarted = "ConversationStarted"
	TypeMessageAppended     = "MessageAppended"
)

// Event is implemented by every type in the catalog. The payload is the
// type's JSON encoding; ids inside it were allocated by the command handler,
// so a rebuild of the read tables reproduces them.
type Event interface {
	EventType() string
}

// TaskAdded records a new task. It is the first event of a task stream.
type TaskAdded struct {
	TaskID      int64  `json:"task_id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// TaskUpdated records a change of title, description or both. A nil field
// was not changed.
type TaskUpdated struct {
	TaskID      int64   `json:"task_id"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
}

// TaskCompleted records that an open task was marked done.
type TaskCompleted struct {
	TaskID int64 `json:"task_id"`
}

// TaskReopened records that a completed task was marked open again.
type TaskReopened struct {
	TaskID int64 `json:"task_id"`
}

// TaskDeleted records that a task left the list. Its stream accepts no
// further events; its history stays in the log.
type TaskDeleted struct {
	TaskID int64 `json:"task_id"`
}

// ConversationStarted records a new conversation. It is the first event of
// a conversation stream.
type ConversationStarted struct {
	ConversationID int64 `json:"conversation_id"`
}

// MessageAppended records one chat message in a conversation.
type MessageAppended struct {
	ConversationID int64  `json:"conversation_id"`
	MessageID      int64  `json:"message_id"`
	Role           string `json:"role"`
	Content        string `json:"content"`
}

func (TaskAdded) EventType() string           { return TypeTaskAdded }
func (TaskUpdated) EventType() string         { return TypeTaskUpdated }
func (TaskCompleted) EventType() string       { return TypeTaskCompleted }
func (TaskReopened) EventType() string        { return TypeTaskReopened }
func (TaskDeleted) EventType() string         { return TypeTaskDeleted }
func (ConversationStarted) EventType() string { return TypeConversationStarted }
func (MessageAppended) EventType() string     { return TypeMessageAppended }

package trace

import "time"

// Tool call names a trace may carry, one per task command.
const (
	ToolAddTask      = "add_task"
	ToolUpdateTask   = "update_task"
	ToolCompleteTask = "complete_task"
	ToolReopenTask   = "reopen_task"
	ToolDeleteTask   = "delete_task"
)

// Message roles a trace line may have.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Line is one message of a trace. Its JSON form is a line of the file, with
// the keys in field order.
type Line struct {
	// Number is the line's 1-based number in its file, for error messages.
	Number int `json:"-"`
	// Seq is unique and strictly increasing down the file. It identifies
	// the line in idempotency keys.
	Seq int64 `json:"seq"`
	// At is when the message was sent; it never decreases down the file.
	At time.Time `json:"at"`
	// User is the trace's user key, such as "user-0001".
	User string `json:"user"`
	// Conversation is the trace's conversation key, such as "c-0001-01".
	// The first line with a key starts a conversation in todolog.
	Conversation string `json:"conversation"`
	Role         string `json:"role"`
	Content      string `json:"content"`
	// ToolCalls, only on assistant lines, are applied in order after the
	// message is appended.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// ToolCall is one task command an assistant message carries.
type ToolCall struct {
	Name      string    `json:"name"`
	Arguments Arguments `json:"arguments"`
}

// Arguments are a tool call's arguments. Task is always set; Title and
// Description are nil when the call leaves them out.
type Arguments struct {
	// Task is the trace's task key, such as "t-0001-0003". add_task names a
	// new key; the other calls name a live task of the same user.
	Task        string  `json:"task"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
}

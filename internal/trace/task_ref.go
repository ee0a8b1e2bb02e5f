package trace

import (
	"strings"

	"github.com/todolog/todolog/commands"
)

// taskRef is the replay's record of one task: its todolog id, the stream
// version the last command left, and its fields as the trace's own calls
// set them, which show the calls that change nothing.
type taskRef struct {
	id          int64
	version     int
	title       string
	description string
	completed   bool
}

// newTaskRef returns the taskRef of a task added with result.
func newTaskRef(result commands.Result, title, description string) *taskRef {
	return &taskRef{id: result.TaskID, version: result.StreamVersion, title: strings.TrimSpace(title), description: description}
}

// changedBy reports whether call changes the task as the trace has it so
// far. todolog stores titles trimmed, so titles are compared trimmed.
func (t *taskRef) changedBy(call ToolCall) bool {
	args := call.Arguments
	switch call.Name {
	case ToolUpdateTask:
		return (args.Title != nil && strings.TrimSpace(*args.Title) != t.title) ||
			(args.Description != nil && *args.Description != t.description)
	case ToolCompleteTask:
		return !t.completed
	case ToolReopenTask:
		return t.completed
	default:
		return true
	}
}

// apply records call's effect and the version result reports.
func (t *taskRef) apply(call ToolCall, result commands.Result) {
	t.version = result.StreamVersion
	args := call.Arguments
	switch call.Name {
	case ToolUpdateTask:
		if args.Title != nil {
			t.title = strings.TrimSpace(*args.Title)
		}
		if args.Description != nil {
			t.description = *args.Description
		}
	case ToolCompleteTask:
		t.completed = true
	case ToolReopenTask:
		t.completed = false
	}
}

package commands

// Command names, as carried on the wire.
const (
	NameAddTask           = "AddTask"
	NameUpdateTask        = "UpdateTask"
	NameCompleteTask      = "CompleteTask"
	NameReopenTask        = "ReopenTask"
	NameDeleteTask        = "DeleteTask"
	NameStartConversation = "StartConversation"
	NameAppendMessage     = "AppendMessage"
)

// AddTask creates a task and returns its id. The title is stored without
// surrounding whitespace; the description is stored as given.
type AddTask struct {
	Header
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// UpdateTask changes a task's title, description or both. A nil field stays
// as it is; an empty description clears it.
type UpdateTask struct {
	Header
	TaskID      int64   `json:"task_id"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
}

// CompleteTask marks an open task done. Completing a completed task writes
// nothing and explains why in Result.Note.
type CompleteTask struct {
	Header
	TaskID int64 `json:"task_id"`
}

// ReopenTask marks a completed task open again. Reopening an open task
// writes nothing and explains why in Result.Note.
type ReopenTask struct {
	Header
	TaskID int64 `json:"task_id"`
}

// DeleteTask removes a task from the list; its history stays in the log and
// later commands on it fail with ErrNotFound.
type DeleteTask struct {
	Header
	TaskID int64 `json:"task_id"`
}

// CommandName returns "AddTask".
func (AddTask) CommandName() string { return NameAddTask }

// CommandName returns "UpdateTask".
func (UpdateTask) CommandName() string { return NameUpdateTask }

// CommandName returns "CompleteTask".
func (CompleteTask) CommandName() string { return NameCompleteTask }

// CommandName returns "ReopenTask".
func (ReopenTask) CommandName() string { return NameReopenTask }

// CommandName returns "DeleteTask".
func (DeleteTask) CommandName() string { return NameDeleteTask }

// Validate checks the title (1 to MaxTitleLength characters after trimming
// whitespace), the description (at most MaxDescriptionLength) and that an
// expected version, if given, is 0.
func (c AddTask) Validate() error {
	problems := c.Header.validate(NameAddTask)
	if err := checkNewStream(NameAddTask, c.Header); err != nil {
		problems = append(problems, err)
	}
	if err := checkTitle(NameAddTask, c.Title); err != nil {
		problems = append(problems, err)
	}
	if err := checkLength(NameAddTask, "description", c.Description, false, MaxDescriptionLength); err != nil {
		problems = append(problems, err)
	}
	return joinProblems(problems)
}

// Validate checks the task id and that at least one of title and
// description is set, each within AddTask's limits.
func (c UpdateTask) Validate() error {
	problems := c.Header.validate(NameUpdateTask)
	if err := checkID(NameUpdateTask, "task_id", c.TaskID); err != nil {
		problems = append(problems, err)
	}
	if c.Title == nil && c.Description == nil {
		problems = append(problems, invalid(NameUpdateTask, "title,description", RuleAtLeastOne,
			"set a title, a description or both"))
	}
	if c.Title != nil {
		if err := checkTitle(NameUpdateTask, *c.Title); err != nil {
			problems = append(problems, err)
		}
	}
	if c.Description != nil {
		if err := checkLength(NameUpdateTask, "description", *c.Description, false, MaxDescriptionLength); err != nil {
			problems = append(problems, err)
		}
	}
	return joinProblems(problems)
}

// Validate checks the header and the task id.
func (c CompleteTask) Validate() error { return validateTaskID(NameCompleteTask, c.Header, c.TaskID) }

// Validate checks the header and the task id.
func (c ReopenTask) Validate() error { return validateTaskID(NameReopenTask, c.Header, c.TaskID) }

// Validate checks the header and the task id.
func (c DeleteTask) Validate() error { return validateTaskID(NameDeleteTask, c.Header, c.TaskID) }

func validateTaskID(command string, header Header, taskID int64) error {
	problems := header.validate(command)
	if err := checkID(command, "task_id", taskID); err != nil {
		problems = append(problems, err)
	}
	return joinProblems(problems)
}

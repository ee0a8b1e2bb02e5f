package commands

import (
	"github.com/todolog/todolog/events"
)

// Command is implemented by every command type of this package. Handle
// accepts the types by value or by pointer.
type Command interface {
	// CommandName returns the command's wire name, such as "AddTask".
	CommandName() string
	// CommandHeader returns the fields every command carries.
	CommandHeader() Header
	// Validate checks the input without touching the database and returns
	// one *ValidationError per problem, joined with errors.Join.
	Validate() error
}

// Header holds the fields every command carries. Command types embed it, so
// its fields sit at the top level of the JSON form.
type Header struct {
	// UserID is the user who owns the command and every stream it touches.
	// It must match events.UserIDPattern.
	UserID string `json:"user_id"`
	// CommandID is the caller's idempotency key: a command whose id was
	// appended before returns that first result and writes nothing, even if
	// the rest of the command differs. A command that changed nothing is not
	// recorded, so its retry is decided again. Empty means a new UUID, so
	// the command cannot be recognized when retried.
	CommandID string `json:"command_id,omitempty"`
	// ExpectedVersion, when set, is the stream version the caller decided
	// on: 0 for a stream the command creates. A stale version fails with
	// ErrConflict instead of being retried.
	ExpectedVersion *int `json:"expected_version,omitempty"`
	// CorrelationID, CausationID and Actor are stored in the events'
	// metadata for tracing; see events.Metadata.
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
}

// CommandHeader returns h; command types get it by embedding Header.
func (h Header) CommandHeader() Header { return h }

// metadata returns the event metadata for h.
func (h Header) metadata() events.Metadata {
	return events.Metadata{
		CommandID:     h.CommandID,
		CorrelationID: h.CorrelationID,
		CausationID:   h.CausationID,
		Actor:         h.Actor,
	}
}

// validate checks the header's fields for the command named command.
func (h Header) validate(command string) []error {
	var problems []error
	if h.UserID == "" {
		problems = append(problems, invalid(command, "user_id", RuleRequired, "must not be empty"))
	} else if err := checkText(command, "user_id", h.UserID); err != nil {
		problems = append(problems, err)
	} else if err := events.CheckUserID(h.UserID); err != nil {
		problem := invalid(command, "user_id", RulePattern, "must match "+events.UserIDPattern)
		problem.Err = err
		problems = append(problems, problem)
	}

	if h.CommandID != "" {
		if err := checkText(command, "command_id", h.CommandID); err != nil {
			problems = append(problems, err)
		} else if err := events.CheckCommandID(h.CommandID); err != nil {
			problem := invalid(command, "command_id", RulePattern, "must match "+events.CommandIDPattern)
			problem.Err = err
			problems = append(problems, problem)
		}
	}

	if h.ExpectedVersion != nil && *h.ExpectedVersion < 0 {
		problems = append(problems, invalidf(command, "expected_version", RuleNonNegative,
			"must be 0 or more, got %d", *h.ExpectedVersion))
	}

	for _, field := range []struct{ name, value string }{
		{"correlation_id", h.CorrelationID},
		{"causation_id", h.CausationID},
		{"actor", h.Actor},
	} {
		if err := checkLength(command, field.name, field.value, false, MaxMetadataLength); err != nil {
			problems = append(problems, err)
		}
	}
	return problems
}

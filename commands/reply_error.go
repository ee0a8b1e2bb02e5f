package commands

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnavailable means the database could not be reached or used while the
// command was handled, even after retries. The command may or may not have
// been written: send it again with the same command id.
var ErrUnavailable = errors.New("database unavailable")

// Error codes of a ReplyError, stable words for programs.
const (
	CodeInvalid     = "invalid"     // ErrInvalid: Problems names each field and rule
	CodeNotFound    = "not_found"   // ErrNotFound
	CodeConflict    = "conflict"    // ErrConflict
	CodeUnavailable = "unavailable" // ErrUnavailable
	// CodeExpired means the sender's deadline passed before the command was
	// handled to the end; errors.Is(err, context.DeadlineExceeded) holds.
	CodeExpired  = "expired"
	CodeInternal = "internal" // anything else; the Processor's log has the cause
)

// ReplyError is a command failure that a Processor sent back in a reply. It
// keeps the failure's kind across the transport: errors.Is matches the
// sentinel of its Code (ErrInvalid, ErrNotFound, ErrConflict, ErrUnavailable
// or context.DeadlineExceeded), and ValidationErrors returns its Problems.
type ReplyError struct {
	// Code is one of the Code constants; a newer Processor may send others.
	Code string
	// Message is the error text for people. For CodeInternal and
	// CodeUnavailable it leaves out the cause, which stays in the
	// Processor's log.
	Message string
	// CommandID is the command's id, when the Processor could read it.
	CommandID string
	// Problems lists each invalid field with the rule it breaks.
	Problems []*ValidationError
}

// Error returns Message.
func (e *ReplyError) Error() string {
	if e.Message == "" {
		return "command failed: " + e.Code
	}
	return e.Message
}

// Unwrap returns the sentinel of e.Code, when it has one, and Problems.
func (e *ReplyError) Unwrap() []error {
	var wrapped []error
	if sentinel := codeSentinels[e.Code]; sentinel != nil {
		wrapped = append(wrapped, sentinel)
	}
	for _, problem := range e.Problems {
		wrapped = append(wrapped, problem)
	}
	return wrapped
}

var codeSentinels = map[string]error{
	CodeInvalid:     ErrInvalid,
	CodeNotFound:    ErrNotFound,
	CodeConflict:    ErrConflict,
	CodeUnavailable: ErrUnavailable,
	CodeExpired:     context.DeadlineExceeded,
}

// errorCode returns the Code of err, a failure of Decode or Handle.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return CodeInvalid
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, ErrUnavailable):
		return CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return CodeExpired
	default:
		return CodeInternal
	}
}

// errorBody is the JSON payload of a reply that reports an error.
type errorBody struct {
	Code      string        `json:"code"`
	Message   string        `json:"message"`
	CommandID string        `json:"command_id,omitempty"`
	Problems  []problemBody `json:"problems,omitempty"`
}

// problemBody is one *ValidationError in an errorBody.
type problemBody struct {
	Command string `json:"command,omitempty"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule"`
	Detail  string `json:"detail"`
}

// newErrorBody describes err, which the command with commandID (empty when
// unknown) failed with. Internal and database errors get a generic message,
// so no database detail leaves the Processor.
func newErrorBody(err error, commandID string) errorBody {
	body := errorBody{Code: errorCode(err), Message: err.Error(), CommandID: commandID}
	switch body.Code {
	case CodeInternal:
		body.Message = fmt.Sprintf("internal error handling command %s; the processor's log has the details", commandID)
	case CodeUnavailable:
		body.Message = fmt.Sprintf("the database was unavailable while handling command %s; "+
			"send it again with the same command id", commandID)
	}
	for _, problem := range ValidationErrors(err) {
		body.Problems = append(body.Problems, problemBody{
			Command: problem.Command, Field: problem.Field, Rule: problem.Rule, Detail: problem.Detail,
		})
	}
	return body
}

// replyError returns the *ReplyError that body describes.
func (body errorBody) replyError() *ReplyError {
	replyErr := &ReplyError{Code: body.Code, Message: body.Message, CommandID: body.CommandID}
	for _, problem := range body.Problems {
		replyErr.Problems = append(replyErr.Problems, &ValidationError{
			Command: problem.Command, Field: problem.Field, Rule: problem.Rule, Detail: problem.Detail,
		})
	}
	return replyErr
}

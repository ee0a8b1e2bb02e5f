package events

import (
	"errors"
	"fmt"
)

// Sentinel errors, testable with errors.Is.
var (
	// ErrConflict means the stream was not at the expected version.
	ErrConflict = errors.New("stream version conflict")
	// ErrDuplicate means the command id was already appended; the error is a
	// *DuplicateError carrying the first result.
	ErrDuplicate = errors.New("command already appended")
	// ErrInvalid means the request breaks a rule of the log.
	ErrInvalid = errors.New("invalid event")
	// ErrAppendOnly means something tried to change or remove logged events.
	ErrAppendOnly = errors.New("the event log is append-only")
	// ErrUnknownEventType means the codec has no type of that name.
	ErrUnknownEventType = errors.New("unknown event type")
)

// ConflictError reports an append whose expected version did not match.
type ConflictError struct {
	UserID   string
	Stream   Stream
	Expected int
	// Actual is the stream's version when the append ran, or -1 if unknown.
	Actual int
}

func (e *ConflictError) Error() string {
	if e.Actual < 0 {
		return fmt.Sprintf("stream %s of user %s: expected version %d, but another writer appended first",
			e.Stream, e.UserID, e.Expected)
	}
	return fmt.Sprintf("stream %s of user %s: expected version %d, found %d", e.Stream, e.UserID, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// DuplicateError reports a command id that was already appended, with the
// result of the append that wrote it.
type DuplicateError struct {
	UserID    string
	CommandID string
	// First is the first append's result; it is empty when the duplicate was
	// detected inside a caller's transaction, which is then aborted. Read it
	// with ReadCommandResult in a new transaction.
	First AppendResult
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("command %s of user %s was already appended", e.CommandID, e.UserID)
}

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

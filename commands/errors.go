package commands

import (
	"errors"

	"github.com/todolog/todolog/events"
)

// Sentinel errors, testable with errors.Is.
var (
	// ErrNotFound means the command names a task or conversation the user
	// does not have, or a task that was deleted. Another user's task is not
	// found either, because every stream belongs to one user.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the stream was not at the caller's expected version,
	// or stayed contended after every retry.
	ErrConflict = events.ErrConflict
	// ErrInvalid means the command breaks an input rule; the error holds one
	// *ValidationError per problem.
	ErrInvalid = errors.New("invalid command")
)

package projections

import (
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// Sentinel errors, testable with errors.Is.
var (
	// ErrNotFound means the id does not exist for that user. Another user's
	// ids give the same error, so callers cannot probe them.
	ErrNotFound = errors.New("not found")
	// ErrWaitTimeout means the projections did not apply a consistency
	// token's event before the wait's bound ran out.
	ErrWaitTimeout = errors.New("timed out waiting for the projections")
	// ErrParked means a projection parked the event, so its read tables do
	// not show it until an operator retries or skips it.
	ErrParked = errors.New("event is parked")
	// ErrHeld means the parked event waits behind an earlier parked event of
	// the same user, which must be retried or skipped first.
	ErrHeld = errors.New("event is held behind an earlier parked event")
	// ErrUnknownProjection means the name is not in Names().
	ErrUnknownProjection = errors.New("unknown projection")
)

// poisonError marks an event that a projection cannot apply however often
// it tries, such as an unknown event type or a payload that contradicts the
// read tables.
type poisonError struct{ err error }

func (e *poisonError) Error() string { return e.err.Error() }
func (e *poisonError) Unwrap() error { return e.err }

func poisonf(format string, args ...any) error {
	return &poisonError{err: fmt.Errorf(format, args...)}
}

// isPoison reports whether err comes from the event itself rather than from
// the connection or the server's state. Data exceptions (SQLSTATE class 22)
// and integrity constraint violations (class 23) are the event's fault.
// Anything else, such as a lost connection, a serialization failure or a
// missing table, would hit every event alike, so parking would be wrong.
func isPoison(err error) bool {
	var poison *poisonError
	if errors.As(err, &poison) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		class := pqErr.Code.Class()
		return class == "22" || class == "23"
	}
	return false
}

// isSerializationFailure reports whether err is PostgreSQL's
// serialization_failure (40001) or deadlock_detected (40P01), which a new
// transaction can retry right away.
func isSerializationFailure(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "40001" || pqErr.Code == "40P01"
	}
	return false
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

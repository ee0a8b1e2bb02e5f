package commands

import (
	"time"

	"github.com/todolog/todolog/internal/database"
)

// Transient failures are retried after a delay that doubles from
// transientBaseDelay up to transientMaxDelay. A database that went away
// (a restart, a serverless database scaling up from zero) takes seconds to
// come back, so the delays are longer than those of conflict retries.
const (
	transientBaseDelay = 50 * time.Millisecond
	transientMaxDelay  = 2 * time.Second
)

// isTransient reports whether err means the database could not be reached
// or used for now, so the same command may succeed later.
func isTransient(err error) bool { return database.IsTransient(err) }

// transientRetryDelay returns how long to wait after the given failed
// attempt, counted from 1.
func transientRetryDelay(attempt int) time.Duration {
	if attempt > 16 {
		return transientMaxDelay
	}
	return min(transientBaseDelay<<(attempt-1), transientMaxDelay)
}

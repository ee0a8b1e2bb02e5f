package commands

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"time"

	"github.com/lib/pq"
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
// or used for now, so the same command may succeed later. Such errors are
// network errors, broken connections, and PostgreSQL errors of class 08
// (connection exception), 53 (insufficient resources, such as too many
// connections) and 57 (operator intervention, such as a shutdown), besides
// serialization failures (40001) and deadlocks (40P01).
func isTransient(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "08", "53", "57":
			return true
		}
		return pqErr.Code == "40001" || pqErr.Code == "40P01"
	}
	return false
}

// transientRetryDelay returns how long to wait after the given failed
// attempt, counted from 1.
func transientRetryDelay(attempt int) time.Duration {
	if attempt > 16 {
		return transientMaxDelay
	}
	return min(transientBaseDelay<<(attempt-1), transientMaxDelay)
}

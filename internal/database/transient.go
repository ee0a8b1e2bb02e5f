package database

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/lib/pq"
)

// IsTransient reports whether err means the database could not be reached
// or used for now, so the same work may succeed when tried again: network
// errors, broken connections, and PostgreSQL errors of class 08
// (connection exception), 53 (insufficient resources, such as too many
// connections) and 57 (operator intervention, such as a shutdown), besides
// serialization failures (40001) and deadlocks (40P01).
func IsTransient(err error) bool {
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

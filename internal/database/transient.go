package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
)

// transientCodes are the SQLSTATEs outside class 08 after which the same
// work may succeed when tried again.
var transientCodes = map[pq.ErrorCode]bool{
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"53300": true, // too_many_connections
	"57P01": true, // admin_shutdown, also sent by pg_terminate_backend
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now, as while the server starts or recovers
	"57P05": true, // idle_session_timeout
}

// IsTransient reports whether err means the database could not be reached
// or used for now, so the same work may succeed when tried again:
//
//   - a lost or refused connection: driver.ErrBadConn, sql.ErrConnDone,
//     io.EOF, io.ErrUnexpectedEOF, ECONNREFUSED, ECONNRESET, EPIPE and
//     other network errors;
//   - a PostgreSQL error of class 08 (connection exception), 57P01 (admin
//     shutdown), 57P02 (crash shutdown), 57P03 (cannot connect now), 57P05
//     (idle session timeout), 53300 (too many connections), 40001
//     (serialization failure) or 40P01 (deadlock).
//
// The end of a context is not transient, although context.DeadlineExceeded
// implements net.Error, and neither is 57014 (a canceled statement, such as
// one past statement_timeout), because trying again would repeat it.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code.Class() == "08" || transientCodes[pqErr.Code]
	}
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

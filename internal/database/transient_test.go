package database_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestIsTransientClassifiesErrors(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		transient bool
	}{
		{"connection failure 08006", &pq.Error{Code: "08006"}, true},
		{"unable to connect 08001", &pq.Error{Code: "08001"}, true},
		{"connection does not exist 08003", fmt.Errorf("reading: %w", &pq.Error{Code: "08003"}), true},
		{"admin shutdown 57P01", &pq.Error{Code: "57P01"}, true},
		{"crash shutdown 57P02", &pq.Error{Code: "57P02"}, true},
		{"cannot connect now 57P03", &pq.Error{Code: "57P03"}, true},
		{"idle session timeout 57P05", &pq.Error{Code: "57P05"}, true},
		{"too many connections 53300", &pq.Error{Code: "53300"}, true},
		{"serialization failure 40001", &pq.Error{Code: "40001"}, true},
		{"deadlock 40P01", &pq.Error{Code: "40P01"}, true},
		{"bad connection", fmt.Errorf("appending: %w", driver.ErrBadConn), true},
		{"connection done", sql.ErrConnDone, true},
		{"EOF", fmt.Errorf("reading a row: %w", io.EOF), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"connection reset", fmt.Errorf("query: %w", syscall.ECONNRESET), true},
		{"broken pipe", syscall.EPIPE, true},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},

		{"nil", nil, false},
		{"unique violation 23505", &pq.Error{Code: "23505"}, false},
		{"undefined table 42P01", &pq.Error{Code: "42P01"}, false},
		{"statement canceled 57014", &pq.Error{Code: "57014"}, false},
		{"database dropped 57P04", &pq.Error{Code: "57P04"}, false},
		{"disk full 53100", &pq.Error{Code: "53100"}, false},
		{"context canceled", fmt.Errorf("query: %w", context.Canceled), false},
		{"context deadline", context.DeadlineExceeded, false},
		{"deadline and bad connection", errors.Join(context.DeadlineExceeded, driver.ErrBadConn), false},
		{"plain error", errors.New("stream version 3 follows 1"), false},
	}
	for _, c := range cases {
		require.Equal(t, c.transient, database.IsTransient(c.err), "%s: %v", c.name, c.err)
	}
}

// The cases below produce each error from a real server, so a change in
// how lib/pq or database/sql reports them shows up here.

func TestIsTransientOnRefusedConnection(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := listener.Addr().(*net.TCPAddr).Port
	require.NoError(t, listener.Close())

	db := pgtest.Open(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/todolog?sslmode=disable&connect_timeout=1", port))
	err = db.PingContext(context.Background())
	require.Error(t, err)
	require.True(t, database.IsTransient(err), "%v", err)
}

func TestIsTransientOnTerminatedBackend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgtest.URL())
	admin := pgtest.Open(t, pgtest.URL())

	// Inside a transaction database/sql cannot move to another connection,
	// so the caller sees the failure.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	var pid int
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	var terminated bool
	require.NoError(t, admin.QueryRowContext(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&terminated))
	require.True(t, terminated)

	_, err = tx.ExecContext(ctx, `SELECT 1`)
	require.Error(t, err)
	t.Logf("error after pg_terminate_backend: %T %v", err, err)
	require.True(t, database.IsTransient(err), "%T %v", err, err)
}

func TestIsTransientOnSerializationFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgtest.URL())
	table := fmt.Sprintf("transient_serial_%d", time.Now().UnixNano())
	_, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id int PRIMARY KEY, n int)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec(`DROP TABLE ` + table) })
	_, err = db.ExecContext(ctx, `INSERT INTO `+table+` VALUES (1, 0)`)
	require.NoError(t, err)

	first, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	defer first.Rollback()
	var n int
	require.NoError(t, first.QueryRowContext(ctx, `SELECT n FROM `+table+` WHERE id = 1`).Scan(&n))
	_, err = db.ExecContext(ctx, `UPDATE `+table+` SET n = n + 1 WHERE id = 1`)
	require.NoError(t, err)

	_, err = first.ExecContext(ctx, `UPDATE `+table+` SET n = n + 1 WHERE id = 1`)
	var pqErr *pq.Error
	require.ErrorAs(t, err, &pqErr)
	require.Equal(t, pq.ErrorCode("40001"), pqErr.Code)
	require.True(t, database.IsTransient(err))
}

func TestIsTransientOnStatementTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgtest.URL())
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `SET LOCAL statement_timeout = '50ms'`)
	require.NoError(t, err)

	_, err = tx.ExecContext(ctx, `SELECT pg_sleep(5)`)
	var pqErr *pq.Error
	require.ErrorAs(t, err, &pqErr)
	require.Equal(t, pq.ErrorCode("57014"), pqErr.Code)
	require.False(t, database.IsTransient(err), "a statement past its timeout would time out again")
}

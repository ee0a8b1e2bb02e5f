package commands_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

// faultConnector wraps lib/pq's connector and loses the reply to chosen
// commits of events_append, the statement of every command's write, as a
// connection that drops at that moment does. Everything else passes
// through to a real server.
//
// The commit of an append is the COMMIT of the transaction that ran it, or
// the append statement itself when it runs outside a transaction (as one
// implicit transaction). Either way the fault lets the server commit, then
// closes the connection and returns an error, so the caller cannot tell
// whether the command was written: an ambiguous COMMIT.
type faultConnector struct {
	inner driver.Connector
	// lostCommits counts the commits of appends still to lose the reply to.
	lostCommits atomic.Int64
	// lostCommitErr is the error a lost reply returns: driver.ErrBadConn,
	// after which database/sql itself sends a statement outside a
	// transaction again, or a reset connection, which reaches the caller.
	lostCommitErr error
}

// errConnectionReset is what lib/pq returns when the server's side of the
// connection resets during a read.
var errConnectionReset = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}

// openFaultDB returns a pool on the package's database whose connections
// go through a faultConnector that loses replies with lostCommitErr.
func openFaultDB(t *testing.T, lostCommitErr error) (*sql.DB, *faultConnector) {
	t.Helper()
	inner, err := pq.NewConnector(pgtest.URL())
	require.NoError(t, err)
	connector := &faultConnector{inner: inner, lostCommitErr: lostCommitErr}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db, connector
}

func (c *faultConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &faultConn{inner: conn, connector: c}, nil
}

func (c *faultConnector) Driver() driver.Driver { return c.inner.Driver() }

// faultConn delegates to a lib/pq connection. After it lost a reply it is
// broken for good, as a dropped connection is, so the pool discards it.
type faultConn struct {
	inner     driver.Conn
	connector *faultConnector
	broken    bool
	// inTx is set while a transaction is open, and appending once that
	// transaction called events_append.
	inTx, appending bool
}

func (c *faultConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }
func (c *faultConn) Close() error                              { return c.inner.Close() }

func (c *faultConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *faultConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.broken {
		return nil, driver.ErrBadConn
	}
	tx, err := c.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx, c.appending = true, false
	return &faultTx{inner: tx, conn: c}, nil
}

func (c *faultConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.broken {
		return nil, driver.ErrBadConn
	}
	rows, err := c.inner.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil || !strings.Contains(query, "events_append") {
		return rows, err
	}
	if c.inTx {
		c.appending = true
		return rows, nil
	}
	if !take(&c.connector.lostCommits) {
		return rows, nil
	}
	// Outside a transaction the statement has committed once its reply has
	// been read to the end, which draining every result set and closing
	// does.
	if err := drain(rows); err != nil {
		return nil, err
	}
	return nil, c.breakConn()
}

// drain reads every row of every result set and closes rows.
func drain(rows driver.Rows) error {
	dest := make([]driver.Value, len(rows.Columns()))
	for {
		for {
			err := rows.Next(dest)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return err
			}
		}
		next, ok := rows.(driver.RowsNextResultSet)
		if !ok || !next.HasNextResultSet() {
			break
		}
		if err := next.NextResultSet(); err != nil {
			rows.Close()
			return err
		}
		dest = make([]driver.Value, len(rows.Columns()))
	}
	return rows.Close()
}

// breakConn closes the server connection and returns the error of a lost
// reply.
func (c *faultConn) breakConn() error {
	c.broken = true
	_ = c.inner.Close()
	return c.connector.lostCommitErr
}

func (c *faultConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.broken {
		return nil, driver.ErrBadConn
	}
	return c.inner.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *faultConn) CheckNamedValue(value *driver.NamedValue) error {
	return c.inner.(driver.NamedValueChecker).CheckNamedValue(value)
}

func (c *faultConn) ResetSession(ctx context.Context) error {
	if c.broken {
		return driver.ErrBadConn
	}
	return c.inner.(driver.SessionResetter).ResetSession(ctx)
}

func (c *faultConn) IsValid() bool {
	return !c.broken && c.inner.(driver.Validator).IsValid()
}

type faultTx struct {
	inner driver.Tx
	conn  *faultConn
}

// Commit commits on the server and then, when a lost reply is due, breaks
// the connection.
func (tx *faultTx) Commit() error {
	tx.conn.inTx = false
	err := tx.inner.Commit()
	if err != nil || !tx.conn.appending {
		return err
	}
	if take(&tx.conn.connector.lostCommits) {
		return tx.conn.breakConn()
	}
	return nil
}

func (tx *faultTx) Rollback() error {
	tx.conn.inTx = false
	if tx.conn.broken {
		return driver.ErrBadConn
	}
	return tx.inner.Rollback()
}

// take decrements counter when it is positive and reports whether it did.
func take(counter *atomic.Int64) bool {
	for {
		n := counter.Load()
		if n <= 0 {
			return false
		}
		if counter.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

package migrations

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrPooled means the migration URL leads through a connection pooler in
// transaction mode.
var ErrPooled = errors.New("migrations need a direct connection, not a pooler in transaction mode")

// poolerSetting is the session setting checkDirect makes to tell a direct
// connection from a pooled one.
const poolerSetting = "todolog.pooler_probe"

// checkDirect returns an ErrPooled error when rawURL reaches the server
// through a pooler in transaction mode, such as PgBouncer's or Neon's pooled
// endpoint. golang-migrate holds a session-level advisory lock for the whole
// run and sends each file as several statements, and such a pooler hands
// every transaction to whichever server connection is free.
//
// The check looks at the host name (Neon's pooled endpoints end in
// -pooler), then makes a session setting on one connection and reads it on
// a second connection, inside a transaction, and on the first again. On a
// direct connection the second never sees it and the first always does.
// NOTE: a pooler that hands the second connection a fresh server connection
// and the first its old one again passes unnoticed; PgBouncer reuses the
// server connection released last, which the second connection gets.
func checkDirect(ctx context.Context, db *sql.DB, rawURL string) error {
	where := describeURL(rawURL)
	if u, err := url.Parse(rawURL); err == nil && strings.Contains(u.Hostname(), "-pooler.") {
		return fmt.Errorf("%w: %s is a pooled endpoint (its host name contains -pooler); %s", ErrPooled, where, directHint)
	}

	marker := randomHex()
	first, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("checking for a connection pooler: %w", err)
	}
	defer first.Close()
	// Plain statements without parameters, so each is one round trip even
	// through a pooler.
	if _, err := first.ExecContext(ctx, `SELECT set_config('`+poolerSetting+`', '`+marker+`', false)`); err != nil {
		return fmt.Errorf("checking for a connection pooler: %w", err)
	}
	defer first.ExecContext(context.WithoutCancel(ctx), `SELECT set_config('`+poolerSetting+`', '', false)`)

	second, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("checking for a connection pooler: %w", err)
	}
	defer second.Close()
	tx, err := second.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("checking for a connection pooler: %w", err)
	}
	defer tx.Rollback()
	var seenBySecond string
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(current_setting('`+poolerSetting+`', true), '')`).Scan(&seenBySecond); err != nil {
		return fmt.Errorf("checking for a connection pooler: %w", err)
	}
	var seenByFirst string
	if err := first.QueryRowContext(ctx, `SELECT coalesce(current_setting('`+poolerSetting+`', true), '')`).Scan(&seenByFirst); err != nil {
		return fmt.Errorf("checking for a connection pooler: %w", err)
	}
	if seenBySecond == marker || seenByFirst != marker {
		return fmt.Errorf("%w: a session setting made on one connection to %s showed up on another, "+
			"so the URL leads through a pooler in transaction mode; %s", ErrPooled, where, directHint)
	}
	return nil
}

// directHint tells the operator what to do about ErrPooled.
const directHint = "golang-migrate keeps a session-level advisory lock and session state that such a pooler does not carry. " +
	"Pass the server's direct URL with --migrate-url or MIGRATE_DATABASE_URL (on Neon, the host name without -pooler)"

// describeURL names rawURL's host and database without its credentials.
func describeURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "the migration database"
	}
	return u.Host + u.Path
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

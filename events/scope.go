package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// The roles and the setting row-level security keys on, created by
// migrations/000007_enable_row_level_security.up.sql.
const (
	// AppRole runs commands and queries. Its policies show it only the rows
	// of the user named by UserIDSetting.
	AppRole = "todolog_app"
	// OperatorRole runs projectors, rebuilds and audits across users.
	OperatorRole = "todolog_operator"
	// UserIDSetting is the transaction-local setting that names the user
	// AppRole may see.
	UserIDSetting = "todolog.user_id"
)

// ErrScope means a function was given a transaction scoped to another user,
// or a user's transaction for work across users.
var ErrScope = errors.New("wrong transaction scope")

// Both settings are transaction-local (the third argument, true), so they
// end with the transaction and a pooled connection carries nothing into the
// next one. The operator query also clears the user, so a transaction that
// moves from a user to the operator keeps no user behind.
const (
	scopeUserQuery     = `SELECT set_config('role', 'todolog_app', true), set_config('todolog.user_id', $1, true)`
	scopeOperatorQuery = `SELECT set_config('role', 'todolog_operator', true), set_config('todolog.user_id', '', true)`
)

// UserTx is a transaction on AppRole scoped to one user: the database shows
// it that user's rows and nothing else. Functions of this module given a
// UserTx for the same user use it without another round trip.
type UserTx struct {
	*sql.Tx
	userID string
}

// UserID returns the user the transaction is scoped to.
func (t *UserTx) UserID() string { return t.userID }

// OperatorTx is a transaction on OperatorRole, which reads every user's rows.
type OperatorTx struct {
	*sql.Tx
}

// BeginUser starts a transaction scoped to userID.
func BeginUser(ctx context.Context, db *sql.DB, userID string, opts *sql.TxOptions) (*UserTx, error) {
	if err := CheckUserID(userID); err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("starting a transaction for user %s: %w", userID, err)
	}
	scoped, err := ScopeUser(ctx, tx, userID)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return scoped, nil
}

// ScopeUser switches tx to AppRole and userID until it ends.
func ScopeUser(ctx context.Context, tx *sql.Tx, userID string) (*UserTx, error) {
	if err := CheckUserID(userID); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, scopeUserQuery, userID); err != nil {
		return nil, scopeError(ctx, AppRole, err)
	}
	return &UserTx{Tx: tx, userID: userID}, nil
}

// BeginOperator starts a transaction on OperatorRole.
func BeginOperator(ctx context.Context, db *sql.DB, opts *sql.TxOptions) (*OperatorTx, error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("starting an operator transaction: %w", err)
	}
	scoped, err := ScopeOperator(ctx, tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return scoped, nil
}

// ScopeOperator switches tx to OperatorRole until it ends.
func ScopeOperator(ctx context.Context, tx *sql.Tx) (*OperatorTx, error) {
	if _, err := tx.ExecContext(ctx, scopeOperatorQuery); err != nil {
		return nil, scopeError(ctx, OperatorRole, err)
	}
	return &OperatorTx{Tx: tx}, nil
}

// scopeError explains the usual cause of a failed role switch: the login
// role is not a member of role. A switch stopped by ctx reports ctx's
// error, which lib/pq hides behind driver.ErrBadConn.
func scopeError(ctx context.Context, role string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("switching the transaction to role %s: %w", role, context.Cause(ctx))
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42501" {
		return fmt.Errorf("switching the transaction to role %s: the database login is not a member of it; "+
			"run GRANT %s TO <login role> as its owner (docs/operations.md, \"Roles\"): %w", role, role, err)
	}
	return fmt.Errorf("switching the transaction to role %s: %w", role, err)
}

// AsUser runs fn on a DBTX scoped to userID, so the database shows fn that
// user's rows and nothing else:
//
//   - a *sql.DB: fn runs in a new transaction, committed when fn returns
//     nil and rolled back otherwise;
//   - a *UserTx of userID: fn runs in it; of another user: ErrScope;
//   - a *sql.Tx: the transaction is scoped to userID until it ends;
//   - an *OperatorTx: ErrScope, because the switch would take the rest of
//     the caller's transaction away from the operator.
func AsUser(ctx context.Context, db DBTX, userID string, fn func(DBTX) error) error {
	switch db := db.(type) {
	case *UserTx:
		if db.userID != userID {
			return fmt.Errorf("%w: the transaction is scoped to user %s, not %s", ErrScope, db.userID, userID)
		}
		return fn(db)
	case *sql.Tx:
		scoped, err := ScopeUser(ctx, db, userID)
		if err != nil {
			return err
		}
		return fn(scoped)
	case *sql.DB:
		tx, err := BeginUser(ctx, db, userID, nil)
		if err != nil {
			return err
		}
		return finish(tx.Tx, fn(tx))
	case *OperatorTx:
		return fmt.Errorf("%w: user %s's rows were asked for in an operator transaction", ErrScope, userID)
	default:
		return fmt.Errorf("%w: %T cannot be scoped to a user; pass a *sql.DB, *sql.Tx or *events.UserTx", ErrScope, db)
	}
}

// AsOperator runs fn on a DBTX that acts across users:
//
//   - a *sql.DB: fn runs in a new OperatorTx, committed when fn returns nil
//     and rolled back otherwise;
//   - an *OperatorTx or a *sql.Tx: fn runs in it with the role the caller
//     gave it, such as the owner's in a migration or a scratch copy;
//   - a *UserTx: ErrScope.
func AsOperator(ctx context.Context, db DBTX, fn func(DBTX) error) error {
	switch db := db.(type) {
	case *OperatorTx, *sql.Tx:
		return fn(db)
	case *sql.DB:
		tx, err := BeginOperator(ctx, db, nil)
		if err != nil {
			return err
		}
		return finish(tx.Tx, fn(tx))
	case *UserTx:
		return fmt.Errorf("%w: work across users was asked for in a transaction scoped to user %s", ErrScope, db.userID)
	default:
		return fmt.Errorf("%w: %T cannot act as the operator; pass a *sql.DB, *sql.Tx or *events.OperatorTx", ErrScope, db)
	}
}

// finish commits tx when err is nil and rolls it back otherwise.
func finish(tx *sql.Tx, err error) error {
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// QueryAsUser runs one query scoped to userID and returns its rows. Given a
// *sql.DB it sends the switch to AppRole and userID and the query in one
// simple-protocol message: one round trip and one implicit transaction, the
// cost of the query alone. Given a transaction it behaves like AsUser.
func QueryAsUser(ctx context.Context, db DBTX, userID, query string, args ...any) (*sql.Rows, error) {
	switch db := db.(type) {
	case *sql.DB:
		return queryOnceAsUser(ctx, db, userID, query, args)
	case *UserTx:
		if db.userID != userID {
			return nil, fmt.Errorf("%w: the transaction is scoped to user %s, not %s", ErrScope, db.userID, userID)
		}
		return db.QueryContext(ctx, query, args...)
	case *sql.Tx:
		scoped, err := ScopeUser(ctx, db, userID)
		if err != nil {
			return nil, err
		}
		return scoped.QueryContext(ctx, query, args...)
	case *OperatorTx:
		return nil, fmt.Errorf("%w: user %s's rows were asked for in an operator transaction", ErrScope, userID)
	default:
		return nil, fmt.Errorf("%w: %T cannot be scoped to a user; pass a *sql.DB, *sql.Tx or *events.UserTx", ErrScope, db)
	}
}

// queryOnceAsUser sends the scope and query as one message. PostgreSQL runs
// the statements of such a message in one implicit transaction and plans
// each just before it runs. So the query's row-level security applies to
// the role and user the first statement set, and both end with the message.
func queryOnceAsUser(ctx context.Context, db *sql.DB, userID, query string, args []any) (*sql.Rows, error) {
	if err := CheckUserID(userID); err != nil {
		return nil, err
	}
	text, err := inlineArgs(query, args)
	if err != nil {
		return nil, err
	}
	scope, err := inlineArgs(scopeUserQuery, []any{userID})
	if err != nil {
		return nil, err
	}

	// With no arguments lib/pq uses the simple protocol, which allows
	// several statements in one message.
	rows, err := db.QueryContext(ctx, scope+"; "+text)
	if err != nil {
		// The switch's errors arrive here, and so do parse errors of either
		// statement, because PostgreSQL parses the whole message first.
		var pqErr *pq.Error
		if ctx.Err() != nil || (errors.As(err, &pqErr) && pqErr.Code == "42501") {
			return nil, scopeError(ctx, AppRole, err)
		}
		return nil, fmt.Errorf("running a query scoped to user %s: %w", userID, err)
	}

	// lib/pq finds the next result set while reading past the last row of
	// the current one, the switch's single row.
	for rows.Next() {
	}
	if !rows.NextResultSet() {
		err := rows.Err()
		rows.Close()
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err == nil {
			err = fmt.Errorf("the query scoped to user %s returned no result", userID)
		}
		return nil, err
	}
	return rows, nil
}

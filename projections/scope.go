package projections

import (
	"context"
	"database/sql"

	"github.com/todolog/todolog/events"
)

// asUser runs fn scoped to userID (events.AsUser) and returns its result.
func asUser[T any](ctx context.Context, db events.DBTX, userID string, fn func(events.DBTX) (T, error)) (T, error) {
	var result T
	err := events.AsUser(ctx, db, userID, func(db events.DBTX) error {
		var err error
		result, err = fn(db)
		return err
	})
	return result, err
}

// asOperator runs fn across users (events.AsOperator) and returns its
// result.
func asOperator[T any](ctx context.Context, db events.DBTX, fn func(events.DBTX) (T, error)) (T, error) {
	var result T
	err := events.AsOperator(ctx, db, func(db events.DBTX) error {
		var err error
		result, err = fn(db)
		return err
	})
	return result, err
}

// operatorDB is the database as the projector's watermill-sql subscribers
// see it: every transaction they begin acts on events.OperatorRole, which
// reads every user's events and writes the read tables. watermill-sql runs
// even the query that creates the checkpoint row in a transaction, and the
// schema adapters initialize nothing, so no statement runs outside one.
type operatorDB struct {
	*sql.DB
}

// BeginTx begins a transaction and switches it to the operator role.
func (db operatorDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	tx, err := events.BeginOperator(ctx, db.DB, opts)
	if err != nil {
		return nil, err
	}
	return tx.Tx, nil
}

// userRow is the first row of a query scoped to a user, scanned like a
// *sql.Row.
type userRow struct {
	rows *sql.Rows
	err  error
}

// queryRowAsUser runs a query that returns at most one row scoped to userID
// (events.QueryAsUser), in one round trip given a *sql.DB.
func queryRowAsUser(ctx context.Context, db events.DBTX, userID, query string, args ...any) *userRow {
	rows, err := events.QueryAsUser(ctx, db, userID, query, args...)
	return &userRow{rows: rows, err: err}
}

// Scan copies the row's columns into dest and closes the rows. Without a
// row it returns sql.ErrNoRows.
func (r *userRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/projections"
)

// demoCheck is the outcome of one of the demo's checks.
type demoCheck struct {
	passed bool
	// summary names what was checked and, on failure, the first difference.
	summary string
}

func passed(format string, args ...any) demoCheck {
	return demoCheck{passed: true, summary: fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) demoCheck {
	return demoCheck{summary: fmt.Sprintf(format, args...)}
}

// checkFreshProjection applies the whole log with projections.Apply into
// empty temporary copies of the read tables and compares their checksums
// with the live tables'. The copies live in one transaction that is rolled
// back, so the check leaves nothing behind.
//
// NOTE: the live tables must not change during the check, so no other
// process may write commands or run projectors on the database meanwhile.
// The transaction also holds back every reader of the server that waits for
// older transactions, such as other projectors, until it ends.
func checkFreshProjection(ctx context.Context, db *sql.DB) demoCheck {
	const name = "read tables equal a fresh projection of the log"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return failed("%s: starting the scratch transaction: %v", name, err)
	}
	defer tx.Rollback()
	if err := createScratchTables(ctx, tx); err != nil {
		return failed("%s: %v", name, err)
	}

	applied := int64(0)
	for r, err := range events.ReadAll(ctx, db, events.Cursor{}) {
		if err != nil {
			return failed("%s: %v", name, err)
		}
		for _, projection := range projections.Names() {
			if err := projections.Apply(ctx, tx, projection, r); err != nil {
				return failed("%s: %v", name, err)
			}
		}
		applied++
	}
	var total int64
	err = events.AsOperator(ctx, db, func(db events.DBTX) error {
		return db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&total)
	})
	if err != nil {
		return failed("%s: counting the log: %v", name, err)
	}
	if applied != total {
		return failed("%s: read %d of the log's %d events; the rest were written during the check or wait behind a transaction still open on the server",
			name, applied, total)
	}

	var sizes []string
	for _, table := range projections.ReadTables() {
		live, err := projections.TableChecksum(ctx, db, table)
		if err != nil {
			return failed("%s: %v", name, err)
		}
		fresh, err := projections.TableChecksum(ctx, tx, table)
		if err != nil {
			return failed("%s: %v", name, err)
		}
		if live != fresh {
			return failed("%s: %s differs: the live table has %d rows (MD5 %s), the fresh projection %d (MD5 %s)",
				name, table, live.Rows, live.MD5, fresh.Rows, fresh.MD5)
		}
		sizes = append(sizes, fmt.Sprintf("%s %s rows", table, formatCount(live.Rows)))
	}
	return passed("%s: %s, from %s events", name, strings.Join(sizes, ", "), formatCount(applied))
}

// createScratchTables creates, in tx, temporary tables named like the read
// tables with their columns, constraints and indexes, and points tx's
// search_path at them alone, so projections.Apply writes there and an
// unqualified name can never reach a live table.
func createScratchTables(ctx context.Context, tx *sql.Tx) error {
	var schema string
	err := tx.QueryRowContext(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass('tasks')`).Scan(&schema)
	if err != nil {
		return fmt.Errorf("finding the schema of the read tables: %w", err)
	}
	var statements []string
	for _, table := range projections.ReadTables() {
		statements = append(statements, fmt.Sprintf(`CREATE TEMPORARY TABLE %s (LIKE %s.%s INCLUDING ALL) ON COMMIT DROP`,
			pq.QuoteIdentifier(table), pq.QuoteIdentifier(schema), pq.QuoteIdentifier(table)))
	}
	// LIKE does not copy foreign keys; this is the live messages table's.
	statements = append(statements,
		`ALTER TABLE pg_temp.messages ADD FOREIGN KEY (user_id, conversation_id) REFERENCES pg_temp.conversations (user_id, id)`,
		`SET LOCAL search_path TO pg_temp`)
	for _, statement := range statements {
		if _, err := tx.ExecContext(ctx, statement); err != nil {
			return fmt.Errorf("creating the scratch tables: %s: %w", statement, err)
		}
	}
	return nil
}

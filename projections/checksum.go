package projections

import (
	"context"
	"fmt"
	"slices"

	"github.com/todolog/todolog/events"
)

// ReadTables lists the tables the projections maintain.
func ReadTables() []string { return []string{"tasks", "conversations", "messages"} }

// Checksum summarizes the content of one read table.
type Checksum struct {
	Table string
	Rows  int64
	// MD5 is the hex MD5 of every row's jsonb text in id order, so two
	// tables with equal checksums hold the same rows, column for column.
	MD5 string
}

// TableChecksum computes the checksum of a read table, for comparing a
// rebuilt table with the live one. It reads the whole table, across users
// (events.AsOperator).
func TableChecksum(ctx context.Context, db events.DBTX, table string) (Checksum, error) {
	if !slices.Contains(ReadTables(), table) {
		return Checksum{}, fmt.Errorf("%q is not a read table; use one of %v", table, ReadTables())
	}
	sum := Checksum{Table: table}
	err := events.AsOperator(ctx, db, func(db events.DBTX) error {
		return db.QueryRowContext(ctx, `SELECT count(*), md5(coalesce(string_agg(to_jsonb(r)::text, E'\n' ORDER BY r.id), ''))
			FROM `+table+` r`).Scan(&sum.Rows, &sum.MD5)
	})
	if err != nil {
		return Checksum{}, fmt.Errorf("computing the checksum of %s: %w", table, err)
	}
	return sum, nil
}

package projections

import (
	"context"
	"fmt"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
)

// liveCopyName names the temporary copy of a read table that a dry run
// compares the rebuilt table with.
func liveCopyName(table string) string { return "rebuild_live_" + table }

// copyLiveTables copies each table into a temporary table, dropped at the
// end of the transaction.
func copyLiveTables(ctx context.Context, db events.DBTX, tables []string) error {
	for _, table := range tables {
		_, err := db.ExecContext(ctx, `CREATE TEMPORARY TABLE `+pq.QuoteIdentifier(liveCopyName(table))+
			` ON COMMIT DROP AS TABLE `+pq.QuoteIdentifier(table))
		if err != nil {
			return fmt.Errorf("copying %s for the dry run's comparison: %w", table, err)
		}
	}
	return nil
}

// compareRebuiltTables computes the checksum of each rebuilt table and, in
// a dry run, its row differences from the live copy.
func compareRebuiltTables(ctx context.Context, db events.DBTX, result *ProjectionRebuild) error {
	for i := range result.Tables {
		comparison := &result.Tables[i]
		rebuilt, err := TableChecksum(ctx, db, comparison.Table)
		if err != nil {
			return err
		}
		comparison.Rebuilt = rebuilt
		if !result.DryRun {
			continue
		}
		differences, err := countRowDifferences(ctx, db, comparison.Table)
		if err != nil {
			return err
		}
		comparison.Differences = &differences
	}
	return nil
}

// countRowDifferences joins the rebuilt table with its live copy by id.
func countRowDifferences(ctx context.Context, db events.DBTX, table string) (RowDifferences, error) {
	var differences RowDifferences
	var sample []int64
	err := db.QueryRowContext(ctx, `SELECT
		    count(*) FILTER (WHERE rebuilt.id IS NULL),
		    count(*) FILTER (WHERE live.id IS NULL),
		    count(*) FILTER (WHERE live.id IS NOT NULL AND rebuilt.id IS NOT NULL),
		    coalesce((array_agg(coalesce(live.id, rebuilt.id) ORDER BY coalesce(live.id, rebuilt.id)))[1:10], '{}')
		  FROM pg_temp.`+pq.QuoteIdentifier(liveCopyName(table))+` live
		  FULL JOIN `+pq.QuoteIdentifier(table)+` rebuilt ON rebuilt.id = live.id
		 WHERE live.id IS NULL OR rebuilt.id IS NULL OR to_jsonb(live) <> to_jsonb(rebuilt)`).
		Scan(&differences.Missing, &differences.Extra, &differences.Changed, pq.Array(&sample))
	if err != nil {
		return RowDifferences{}, fmt.Errorf("comparing the rebuilt %s with the live one: %w", table, err)
	}
	differences.SampleIDs = sample
	return differences, nil
}

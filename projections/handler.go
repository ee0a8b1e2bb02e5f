package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/todolog/todolog/events"
)

// handler applies the events one subscriber delivers to one projection.
//
// watermill-sql delivers a batch of events one at a time, each with the
// batch's transaction in the message context, and commits that transaction
// with the new checkpoint after the last acknowledged event. So the handler
// writes through that transaction and acknowledges every event it settled:
// applied, already applied, ignored or parked.
type handler struct {
	projection   projection
	maxAttempts  int
	attemptDelay time.Duration
	logger       *slog.Logger
	stats        *counters
	// parkedEvents holds the projection's parked events in the snapshot of
	// the current batch's transaction.
	parkedEvents batchParked
	// onFullBatch, when not nil, is called each time one subscriber
	// transaction has delivered fullBatch events, the subscriber's batch
	// size. A full batch means the projection may be far behind, so the
	// projector's catch-up loop should take over.
	onFullBatch func()
	fullBatch   int
	delivered   deliveryCounter
}

// handle is the Watermill handler function. It returns an error only when
// the message did not come from the projector's subscriber. Other failures
// are settled here, because a returned error would make the subscriber
// resend the event in the same transaction and snapshot.
func (h *handler) handle(msg *message.Message) error {
	ctx := msg.Context()
	tx, ok := watermillsql.TxFromContext(ctx)
	if !ok {
		return errors.New("the message carries no watermill-sql transaction, so its writes cannot commit with the checkpoint")
	}
	if h.onFullBatch != nil && h.delivered.add(tx) == h.fullBatch {
		h.onFullBatch()
	}
	r, err := recordFromMessage(msg)
	if err != nil {
		return err
	}
	if !h.projection.owns(r) {
		h.stats.ignored.Add(1)
		return nil
	}

	logger := h.eventLogger(r)
	err = h.process(ctx, tx, r, logger)
	if err == nil || errors.Is(err, sql.ErrTxDone) {
		// ErrTxDone: an earlier event of this batch rolled the batch back,
		// and the subscriber reads this event again with the others.
		return nil
	}

	// The failure is not the event's fault (a lost connection, a
	// serialization failure, a shutdown). Rolling back the whole batch,
	// checkpoint included, makes the subscriber read it again in a new
	// transaction after its retry interval.
	if rollbackErr := tx.Rollback(); rollbackErr != nil && !errors.Is(rollbackErr, sql.ErrTxDone) {
		err = errors.Join(err, fmt.Errorf("rolling back the batch: %w", rollbackErr))
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		logger.Warn("applying event took longer than the ack deadline; rolled back its batch to read it again", "error", err)
	case ctx.Err() != nil:
		logger.Debug("stopped applying event; its batch was rolled back", "error", err)
	case isSerializationFailure(err):
		logger.Warn("applying event conflicted with another transaction; rolled back its batch to read it again", "error", err)
	default:
		logger.Error("applying event failed; rolled back its batch to read it again", "error", err)
	}
	return nil
}

// process applies r, retrying a poison error up to maxAttempts times, and
// parks r when every attempt failed or when the user already has a parked
// event in this projection. It returns the errors that are not r's fault.
func (h *handler) process(ctx context.Context, tx *sql.Tx, r events.Record, logger *slog.Logger) error {
	first, found, err := h.parkedEvents.firstParked(ctx, tx, h.projection.name, r.UserID)
	if err != nil {
		return err
	}
	if found && first == r.Position {
		logger.Debug("event is already parked")
		return nil
	}
	if found {
		// Applying r now would apply the user's events out of order.
		return h.hold(ctx, tx, r, first, logger)
	}

	var applyErr error
	for attempt := 1; ; attempt++ {
		var applied bool
		applied, applyErr = applyInSavepoint(ctx, tx, h.projection, r)
		if applyErr == nil {
			if applied {
				h.stats.applied.Add(1)
				logger.Debug("event applied")
			} else {
				h.stats.alreadyApplied.Add(1)
				logger.Debug("event was already applied")
			}
			return nil
		}
		if !isPoison(applyErr) {
			return applyErr
		}
		if attempt >= h.maxAttempts {
			break
		}
		logger.Warn("applying event failed; retrying", "attempt", attempt, "max_attempts", h.maxAttempts, "error", applyErr)
		if err := sleep(ctx, h.attemptDelay); err != nil {
			return err
		}
	}

	if err := park(ctx, tx, h.projection.name, r, applyErr.Error(), h.maxAttempts, false); err != nil {
		return err
	}
	h.parkedEvents.parked(tx, r.UserID, r.Position)
	h.stats.parked.Add(1)
	logger.Error("event parked: the projection cannot apply it", "attempts", h.maxAttempts, "error", applyErr)
	return nil
}

// hold parks r as held behind the user's earliest parked event, at
// position first.
func (h *handler) hold(ctx context.Context, tx *sql.Tx, r events.Record, first int64, logger *slog.Logger) error {
	cause := fmt.Sprintf("held behind parked event at position %d of the same user", first)
	if err := park(ctx, tx, h.projection.name, r, cause, 0, true); err != nil {
		return err
	}
	h.parkedEvents.parked(tx, r.UserID, r.Position)
	h.stats.parked.Add(1)
	logger.Warn("event held behind a parked event of the same user", "parked_position", first)
	return nil
}

// eventLogger returns the handler's logger with r's position, user and
// type.
func (h *handler) eventLogger(r events.Record) *slog.Logger {
	return h.logger.With("position", r.Position, "user_id", r.UserID, "event_type", r.Type)
}

// deliveryCounter counts the events delivered in the current subscriber
// transaction.
type deliveryCounter struct {
	mu sync.Mutex
	tx *sql.Tx
	n  int
}

// add counts one more event delivered in tx and returns the count so far.
// A new tx starts the count again.
func (d *deliveryCounter) add(tx *sql.Tx) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tx != tx {
		d.tx, d.n = tx, 0
	}
	d.n++
	return d.n
}

// applyInSavepoint applies r inside a savepoint, so a failed attempt leaves
// the transaction usable and without any of r's changes.
func applyInSavepoint(ctx context.Context, tx *sql.Tx, p projection, r events.Record) (bool, error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT apply_event`); err != nil {
		return false, err
	}
	applied, err := p.applyRecord(ctx, tx, r)
	if err != nil {
		if _, rollbackErr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT apply_event`); rollbackErr != nil {
			// The cause is formatted, not wrapped, because the transaction
			// is unusable and the failure is no longer the event's fault.
			return false, fmt.Errorf("rolling back to savepoint after %v: %w", err, rollbackErr)
		}
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT apply_event`); err != nil {
		return false, err
	}
	return applied, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

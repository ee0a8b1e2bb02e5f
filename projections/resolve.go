package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/todolog/todolog/events"
)

// Resolution reports what RetryParked or SkipParked did besides the event
// it was given.
type Resolution struct {
	// Released counts the user's held events that were applied afterwards,
	// in log order.
	Released int
	// Blocked is the held event that failed while being released and is
	// now parked on its own error, or nil when every held event applied.
	Blocked *ParkedEvent
}

// RetryParked applies the parked event at position again, then applies the
// same user's events held behind it in order, stopping at the first that
// fails. Only the user's earliest parked event can be retried (ErrHeld
// otherwise). When the event fails again, its attempts and error are
// updated and the error is returned.
//
// It may run while projectors run: it takes the projection's checkpoint
// row lock, so it never interleaves with a projector's batch.
func RetryParked(ctx context.Context, db *sql.DB, projectionName string, position int64) (Resolution, error) {
	return resolveParked(ctx, db, projectionName, position, true)
}

// SkipParked gives up on the parked event at position without applying it,
// then releases the same user's held events as RetryParked does. The event
// stays in the log, so a rebuild tries it again.
func SkipParked(ctx context.Context, db *sql.DB, projectionName string, position int64) (Resolution, error) {
	return resolveParked(ctx, db, projectionName, position, false)
}

func resolveParked(ctx context.Context, db *sql.DB, projectionName string, position int64, reapply bool) (_ Resolution, err error) {
	p, err := lookup(projectionName)
	if err != nil {
		return Resolution{}, err
	}
	operator, err := events.BeginOperator(ctx, db, nil)
	if err != nil {
		return Resolution{}, err
	}
	tx := operator.Tx
	committed := false
	defer func() {
		if !committed {
			err = errors.Join(err, ignoreTxDone(tx.Rollback()))
		}
	}()

	// Updating the checkpoint row (not only locking it) also makes a
	// projector batch whose snapshot predates this commit fail with a
	// serialization error, so it never acts on parked rows removed here.
	if _, err := tx.ExecContext(ctx, `UPDATE projection_checkpoints SET updated_at = clock_timestamp()
		WHERE projection = $1`, p.name); err != nil {
		return Resolution{}, fmt.Errorf("locking the checkpoint of projection %s: %w", p.name, err)
	}
	target, err := readParked(ctx, tx, p.name, position)
	if err != nil {
		return Resolution{}, err
	}
	first, _, err := firstParked(ctx, tx, p.name, target.UserID)
	if err != nil {
		return Resolution{}, err
	}
	if first != position {
		return Resolution{}, fmt.Errorf("%w: event at position %d of user %s waits behind parked event at position %d; retry or skip that one first",
			ErrHeld, position, target.UserID, first)
	}

	if reapply {
		if applyErr := applyParked(ctx, tx, p, target); applyErr != nil {
			if !isPoison(applyErr) {
				return Resolution{}, applyErr
			}
			if err := recordFailedAttempt(ctx, tx, p.name, position, applyErr); err != nil {
				return Resolution{}, err
			}
			if err := tx.Commit(); err != nil {
				return Resolution{}, fmt.Errorf("committing failed attempt: %w", err)
			}
			committed = true
			return Resolution{}, fmt.Errorf("retrying event at position %d of user %s in projection %s: %w",
				position, target.UserID, p.name, applyErr)
		}
	}
	if err := unpark(ctx, tx, p.name, position); err != nil {
		return Resolution{}, err
	}

	resolution, err := releaseHeld(ctx, tx, p, target.UserID)
	if err != nil {
		return Resolution{}, err
	}
	if err := tx.Commit(); err != nil {
		return Resolution{}, fmt.Errorf("committing resolution of event at position %d: %w", position, err)
	}
	committed = true
	return resolution, nil
}

// releaseHeld applies the user's parked events in log order until one
// fails, which stays parked with its own error.
func releaseHeld(ctx context.Context, tx *sql.Tx, p projection, userID string) (Resolution, error) {
	var resolution Resolution
	for {
		position, found, err := firstParked(ctx, tx, p.name, userID)
		if err != nil || !found {
			return resolution, err
		}
		heldEvent, err := readParked(ctx, tx, p.name, position)
		if err != nil {
			return resolution, err
		}
		if applyErr := applyParked(ctx, tx, p, heldEvent); applyErr != nil {
			if !isPoison(applyErr) {
				return resolution, applyErr
			}
			if err := recordFailedAttempt(ctx, tx, p.name, position, applyErr); err != nil {
				return resolution, err
			}
			blocked, err := readParked(ctx, tx, p.name, position)
			if err != nil {
				return resolution, err
			}
			resolution.Blocked = &blocked
			return resolution, nil
		}
		if err := unpark(ctx, tx, p.name, position); err != nil {
			return resolution, err
		}
		resolution.Released++
	}
}

// applyParked reads the parked event from the log and applies it.
func applyParked(ctx context.Context, tx *sql.Tx, p projection, parked ParkedEvent) error {
	r, err := readEvent(ctx, tx, parked.UserID, parked.TransactionID, parked.Position)
	if err != nil {
		return err
	}
	_, err = applyInSavepoint(ctx, tx, p, r)
	return err
}

func ignoreTxDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/todolog/todolog/internal/database"
)

// transientRetryDelay spaces the Processor's retries after transient
// failures: up to transientBaseDelay at first, doubling up to
// transientMaxDelay. A database that went away (a restart, a serverless
// database scaling up from zero) takes seconds to come back, so the delays
// are longer than those of conflict retries.
const (
	transientBaseDelay = 50 * time.Millisecond
	transientMaxDelay  = 2 * time.Second
)

// isTransient reports whether err means the database could not be reached
// or used for now, so the same command may succeed later. An error that
// wraps ErrUnavailable is not, because the Handler or the Bus already
// retried it and it is the final result.
func isTransient(err error) bool {
	return database.IsTransient(err) && !errors.Is(err, ErrUnavailable)
}

// transientRetryDelay returns a random wait after the given failed
// attempt, counted from 1.
func transientRetryDelay(attempt int) time.Duration {
	return database.RetryPolicy{BaseDelay: transientBaseDelay, MaxDelay: transientMaxDelay}.Delay(attempt)
}

// handleRetrying runs handle again after a transient database error,
// within h.retry, and returns the attempts made, conflict retries included.
//
// Rerunning is safe because every run appends under the same command id.
// The failed attempt may have committed before the connection broke (an
// ambiguous COMMIT), so every rerun first looks the id up, a generated one
// included, and returns what the committed attempt wrote.
func (h *Handler) handleRetrying(ctx context.Context, run *commandRun) (Result, int, error) {
	logger := h.logger.With("command", run.cmd.CommandName(), "user_id", run.header.UserID,
		"command_id", run.header.CommandID)
	var result Result
	attempts := 0
	err := database.Retry(ctx, h.retry, logger, func(ctx context.Context, rerun int) error {
		if rerun > 1 {
			run.lookUp = true
		}
		var attemptCount int
		var err error
		result, attemptCount, err = h.handle(ctx, run)
		attempts += attemptCount
		return err
	})
	if err != nil && isTransient(err) {
		return Result{}, attempts, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return result, attempts, err
}

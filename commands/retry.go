package commands

import (
	"context"
	"time"

	"github.com/todolog/todolog/internal/database"
)

// Conflict retries wait a random time below a ceiling that doubles from
// retryBaseDelay up to retryMaxDelay ("full jitter"), so writers that
// collided spread out instead of colliding again in step.
const (
	retryBaseDelay = 2 * time.Millisecond
	retryMaxDelay  = 500 * time.Millisecond
)

// retryDelay returns how long to wait after the given failed attempt,
// counted from 1.
func retryDelay(attempt int) time.Duration {
	return database.RetryPolicy{BaseDelay: retryBaseDelay, MaxDelay: retryMaxDelay}.Delay(attempt)
}

// sleep waits for d or until ctx ends, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

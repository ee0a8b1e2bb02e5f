package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults of RetryPolicy. Together they wait out a database that is away
// for a few seconds, as during a restart, and still return an error to the
// caller after about 10 s when it stays away.
const (
	DefaultRetryMaxAttempts = 8
	DefaultRetryMaxElapsed  = 10 * time.Second
	DefaultRetryBaseDelay   = 50 * time.Millisecond
	DefaultRetryMaxDelay    = 2 * time.Second
)

// RetryPolicy bounds Retry. A zero field means its default.
type RetryPolicy struct {
	// MaxAttempts bounds the calls of the function, the first included.
	// 0 means DefaultRetryMaxAttempts, and 1 turns retries off.
	MaxAttempts int
	// MaxElapsed bounds the time from the first call to the start of the
	// last one. 0 means DefaultRetryMaxElapsed.
	MaxElapsed time.Duration
	// BaseDelay is the ceiling of the first delay. The ceiling doubles
	// after every retry up to MaxDelay. 0 means DefaultRetryBaseDelay.
	BaseDelay time.Duration
	// MaxDelay is the largest ceiling. 0 means DefaultRetryMaxDelay.
	MaxDelay time.Duration
}

// WithDefaults returns p with every zero field set to its default.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultRetryMaxAttempts
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = DefaultRetryMaxElapsed
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = DefaultRetryBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultRetryMaxDelay
	}
	return p
}

// Validate reports every invalid setting at once.
func (p RetryPolicy) Validate() error {
	var problems []error
	if p.MaxAttempts < 0 {
		problems = append(problems, fmt.Errorf("retry attempts must be 0 (the default, %d) or more, got %d",
			DefaultRetryMaxAttempts, p.MaxAttempts))
	}
	if p.MaxElapsed < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 {
		problems = append(problems, fmt.Errorf("retry durations must not be negative, got max elapsed %s, base delay %s, max delay %s",
			p.MaxElapsed, p.BaseDelay, p.MaxDelay))
	}
	if p.BaseDelay > 0 && p.MaxDelay > 0 && p.BaseDelay > p.MaxDelay {
		problems = append(problems, fmt.Errorf("retry base delay %s exceeds the max delay %s", p.BaseDelay, p.MaxDelay))
	}
	return errors.Join(problems...)
}

// Delay returns a random wait before the given retry, counted from 1:
// uniform between 0 and min(MaxDelay, BaseDelay·2^(retry-1)). The random
// spread ("full jitter") keeps clients that failed together from coming
// back together. Zero fields take their defaults.
func (p RetryPolicy) Delay(retry int) time.Duration {
	p = p.WithDefaults()
	ceiling := p.BaseDelay
	for i := 1; i < retry && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Retry calls fn until it returns nil or an error that IsTransient rejects,
// waiting Delay between calls, within the bounds of policy. The function
// must be safe to run again after a transient failure, for example because
// it reads only, or because it runs one transaction whose effect a rerun
// detects. fn receives the attempt number, counted from 1.
//
// Each retry is logged at Warn on logger, which should carry the ids of the
// work (logger.With). A nil logger means slog.Default().
//
// Errors that are not transient return at once and unchanged. When the
// attempts or the time run out, the last error is returned wrapped with the
// count, so IsTransient still holds for it. When ctx ends, the error wraps
// ctx.Err() and the last error.
func Retry(ctx context.Context, policy RetryPolicy, logger *slog.Logger, fn func(ctx context.Context, attempt int) error) error {
	policy = policy.WithDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	started := time.Now()
	for attempt := 1; ; attempt++ {
		err := fn(ctx, attempt)
		if err == nil || !IsTransient(err) {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%w after %d attempts: %w", ctxErr, attempt, err)
		}
		remaining := policy.MaxElapsed - time.Since(started)
		if attempt >= policy.MaxAttempts || remaining <= 0 {
			return fmt.Errorf("giving up after %d attempts in %s: %w",
				attempt, time.Since(started).Round(time.Millisecond), err)
		}

		delay := min(policy.Delay(attempt), remaining)
		logger.WarnContext(ctx, "retrying after a transient database error",
			"attempt", attempt, "max_attempts", policy.MaxAttempts, "delay", delay, "error", err)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w after %d attempts: %w", ctx.Err(), attempt, err)
		case <-timer.C:
		}
	}
}

package projections

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/todolog/todolog/internal/idlepoll"
)

// errorLogInterval bounds how often one subscriber logs a repeated query
// failure, such as an unreachable database, at Error.
const errorLogInterval = time.Minute

// backoff is the watermill-sql BackoffManager of one projection's
// subscriber: it decides how long the subscriber waits before its next
// query, and logs query failures through slog.
type backoff struct {
	logger        *slog.Logger
	pollInterval  time.Duration
	retryInterval time.Duration
	// stopping is set once the Projector shuts down. Queries then fail
	// with context.Canceled or with PostgreSQL's query_canceled, which
	// lib/pq reports for a statement stopped by its context.
	stopping *atomic.Bool
	// poller counts the polls and waits between empty ones.
	poller *idlepoll.Poller

	mu         sync.Mutex
	failures   int
	lastLogged time.Time
}

// HandleError returns the wait before the next query: none after a batch
// or a lost race for the checkpoint lock, and the retry interval after any
// other failure. When the log had nothing new, it waits inside the call
// (idlepoll.Poller.Quiet), so an append of this process ends the wait, and
// returns none.
func (b *backoff) HandleError(_ watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err == nil && noMsg {
		b.recovered()
		b.poller.Quiet()
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.recoveredLocked()
		b.poller.Found()
		return 0
	}
	b.poller.Failed()

	switch {
	case isSerializationFailure(err):
		// Another process moved the checkpoint after this transaction's
		// snapshot was taken. A new transaction reads the moved checkpoint.
		b.logger.Debug("another process applied this projection's events first; reading again", "error", err)
		return 0
	case errors.Is(err, sql.ErrTxDone):
		// The handler rolled the batch back and logged why.
		b.logger.Debug("batch was rolled back; reading it again", "error", err)
		return b.retryInterval
	case errors.Is(err, context.Canceled) || b.stopping.Load():
		b.logger.Debug("reading the event log stopped", "error", err)
		return b.retryInterval
	}

	b.failures++
	if b.failures == 1 || time.Since(b.lastLogged) >= errorLogInterval {
		b.logger.Error("reading the event log failed; retrying", "error", err,
			"failures", b.failures, "retry_interval", b.retryInterval)
		b.lastLogged = time.Now()
	}
	return b.retryInterval
}

// recovered logs, after failed polls, that reading works again.
func (b *backoff) recovered() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recoveredLocked()
}

func (b *backoff) recoveredLocked() {
	if b.failures > 0 {
		b.logger.Info("reading the event log works again", "failures", b.failures)
		b.failures = 0
	}
}

package database_test

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/database"
)

// recordingHandler keeps every log record, with the attributes of
// slog.Logger.With merged into each.
type recordingHandler struct {
	mu      *sync.Mutex
	records *[]map[string]any
	attrs   []slog.Attr
}

func newRecordingHandler() *recordingHandler {
	return &recordingHandler{mu: &sync.Mutex{}, records: &[]map[string]any{}}
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	record := map[string]any{"level": r.Level, "msg": r.Message}
	for _, a := range h.attrs {
		record[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		record[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, record)
	return nil
}

func (h *recordingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	copied := *h
	copied.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &copied
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

func (h *recordingHandler) all() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any{}, *h.records...)
}

// fastPolicy keeps the tests quick: delays of at most 2 ms.
var fastPolicy = database.RetryPolicy{MaxAttempts: 5, MaxElapsed: 5 * time.Second, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}

func TestRetryRepeatsTransientErrorsUntilSuccess(t *testing.T) {
	recorder := newRecordingHandler()
	logger := slog.New(recorder).With("user_id", "alice", "command_id", "c-1")
	var attempts []int
	err := database.Retry(context.Background(), fastPolicy, logger, func(_ context.Context, attempt int) error {
		attempts = append(attempts, attempt)
		if attempt < 3 {
			return driver.ErrBadConn
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, attempts)

	records := recorder.all()
	require.Len(t, records, 2, "one line per retry")
	for i, record := range records {
		require.Equal(t, slog.LevelWarn, record["level"])
		require.Equal(t, "retrying after a transient database error", record["msg"])
		require.Equal(t, int64(i+1), record["attempt"])
		require.Equal(t, "alice", record["user_id"])
		require.Equal(t, "c-1", record["command_id"])
		require.Contains(t, record, "delay")
		require.ErrorIs(t, record["error"].(error), driver.ErrBadConn)
	}
}

func TestRetryReturnsOtherErrorsAtOnce(t *testing.T) {
	recorder := newRecordingHandler()
	unique := &pq.Error{Code: "23505"}
	calls := 0
	err := database.Retry(context.Background(), fastPolicy, slog.New(recorder), func(context.Context, int) error {
		calls++
		return unique
	})
	require.Same(t, unique, err, "the error is returned unchanged")
	require.Equal(t, 1, calls)
	require.Empty(t, recorder.all())
}

func TestRetryStopsAfterMaxAttempts(t *testing.T) {
	calls := 0
	err := database.Retry(context.Background(), fastPolicy, slog.New(newRecordingHandler()), func(context.Context, int) error {
		calls++
		return &pq.Error{Code: "57P03"}
	})
	require.Equal(t, fastPolicy.MaxAttempts, calls)
	require.ErrorContains(t, err, "giving up after 5 attempts")
	require.True(t, database.IsTransient(err), "the cause stays in the chain")
}

func TestRetryOffWithOneAttempt(t *testing.T) {
	calls := 0
	err := database.Retry(context.Background(), database.RetryPolicy{MaxAttempts: 1}, slog.New(newRecordingHandler()),
		func(context.Context, int) error {
			calls++
			return driver.ErrBadConn
		})
	require.ErrorIs(t, err, driver.ErrBadConn)
	require.Equal(t, 1, calls)
}

func TestRetryStopsAfterMaxElapsed(t *testing.T) {
	policy := database.RetryPolicy{MaxAttempts: 1000, MaxElapsed: 100 * time.Millisecond,
		BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}
	started := time.Now()
	var lastStart time.Duration
	calls := 0
	err := database.Retry(context.Background(), policy, slog.New(newRecordingHandler()), func(context.Context, int) error {
		calls++
		lastStart = time.Since(started)
		return driver.ErrBadConn
	})
	require.ErrorContains(t, err, "giving up after")
	require.Less(t, calls, 1000)
	// The last delay is cut to end at MaxElapsed. The extra second only
	// allows for a slow timer on a loaded machine.
	require.Less(t, lastStart, policy.MaxElapsed+time.Second, "no attempt starts long after MaxElapsed")
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	policy := database.RetryPolicy{MaxAttempts: 10, BaseDelay: time.Hour, MaxDelay: time.Hour}
	time.AfterFunc(50*time.Millisecond, cancel)
	err := database.Retry(ctx, policy, slog.New(newRecordingHandler()), func(context.Context, int) error {
		return driver.ErrBadConn
	})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, driver.ErrBadConn)
	require.False(t, database.IsTransient(err), "a caller that gave up is not retried by an outer loop")
}

func TestRetryPolicyDelayIsFullJitter(t *testing.T) {
	policy := database.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 70 * time.Millisecond}
	ceilings := map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 40 * time.Millisecond,
		4: 70 * time.Millisecond, 40: 70 * time.Millisecond, 1000: 70 * time.Millisecond}
	for retry, ceiling := range ceilings {
		var largest time.Duration
		for range 2000 {
			delay := policy.Delay(retry)
			require.GreaterOrEqual(t, delay, time.Duration(0), "retry %d", retry)
			require.LessOrEqual(t, delay, ceiling, "retry %d", retry)
			largest = max(largest, delay)
		}
		// 2,000 uniform draws all below 80% of the ceiling have a chance of
		// 0.8^2000, which never happens.
		require.Greater(t, largest, ceiling*8/10, "retry %d: the delays spread up to the ceiling", retry)
	}
}

func TestRetryPolicyDefaultsAndValidate(t *testing.T) {
	policy := database.RetryPolicy{}.WithDefaults()
	require.Equal(t, database.RetryPolicy{MaxAttempts: database.DefaultRetryMaxAttempts, MaxElapsed: database.DefaultRetryMaxElapsed,
		BaseDelay: database.DefaultRetryBaseDelay, MaxDelay: database.DefaultRetryMaxDelay}, policy)
	require.NoError(t, policy.Validate())
	require.NoError(t, database.RetryPolicy{}.Validate())

	err := database.RetryPolicy{MaxAttempts: -1, MaxElapsed: -time.Second, BaseDelay: 3 * time.Second, MaxDelay: time.Second}.Validate()
	require.ErrorContains(t, err, "retry attempts must be 0")
	require.ErrorContains(t, err, "must not be negative")
	require.ErrorContains(t, err, "exceeds the max delay")
}

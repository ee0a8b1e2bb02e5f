package trace_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testLogWriter sends log output to t.Log until the test's cleanup, after
// which t.Log would panic.
type testLogWriter struct {
	t     testing.TB
	mu    sync.Mutex
	ended bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// testLogger returns a Warn-level logger writing to t.Log. Call it before
// starting anything that logs, so its cleanup runs after theirs.
func testLogger(t testing.TB) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ended = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

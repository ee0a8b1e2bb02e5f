package projections_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testLog sends slog output to t.Log and keeps every record at Warn or
// above, so tests can check what was logged. It drops output after the test
// ends, when t.Log would panic.
type testLog struct {
	t       testing.TB
	mu      sync.Mutex
	ended   bool
	entries []logEntry
}

// logEntry is one kept record with its attributes as text.
type logEntry struct {
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

// newTestLog returns a testLog that stops writing at the test's cleanup.
// Call it before starting anything that logs, so its cleanup runs last.
func newTestLog(t testing.TB) *testLog {
	log := &testLog{t: t}
	t.Cleanup(func() {
		log.mu.Lock()
		defer log.mu.Unlock()
		log.ended = true
	})
	return log
}

// Logger returns a Debug-level logger writing to the test log.
func (l *testLog) Logger() *slog.Logger {
	text := slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(&keepingHandler{Handler: text, log: l})
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ended {
		l.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// Entries returns the kept records at level or above.
func (l *testLog) Entries(level slog.Level) []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var list []logEntry
	for _, e := range l.entries {
		if e.Level >= level {
			list = append(list, e)
		}
	}
	return list
}

// keepingHandler passes records on and keeps those at Warn or above, with
// the attributes added by Logger.With.
type keepingHandler struct {
	slog.Handler
	attrs []slog.Attr
	log   *testLog
}

func (h *keepingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		entry := logEntry{Level: r.Level, Message: r.Message, Attrs: map[string]string{}}
		for _, a := range h.attrs {
			entry.Attrs[a.Key] = fmt.Sprint(a.Value.Any())
		}
		r.Attrs(func(a slog.Attr) bool {
			entry.Attrs[a.Key] = fmt.Sprint(a.Value.Any())
			return true
		})
		h.log.mu.Lock()
		h.log.entries = append(h.log.entries, entry)
		h.log.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h *keepingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &keepingHandler{Handler: h.Handler.WithAttrs(attrs), attrs: append(slices.Clone(h.attrs), attrs...), log: h.log}
}

func (h *keepingHandler) WithGroup(name string) slog.Handler {
	return &keepingHandler{Handler: h.Handler.WithGroup(name), attrs: h.attrs, log: h.log}
}

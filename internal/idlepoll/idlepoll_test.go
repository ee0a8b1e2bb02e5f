package idlepoll_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/idlepoll"
)

func TestWaitsGrowAfterGraceUpToCeiling(t *testing.T) {
	p := idlepoll.New(idlepoll.Config{Interval: time.Millisecond, Grace: 20 * time.Millisecond, Ceiling: 16 * time.Millisecond})

	start := time.Now()
	for time.Since(start) < 20*time.Millisecond {
		p.Quiet()
		require.Equal(t, time.Millisecond, p.Wait(), "within the grace period the wait stays at the interval")
	}
	var waits []time.Duration
	for range 6 {
		p.Quiet()
		waits = append(waits, p.Wait())
	}
	require.Equal(t, []time.Duration{2, 4, 8, 16, 16, 16}, scaled(waits, time.Millisecond))

	p.Found()
	require.Equal(t, time.Millisecond, p.Wait(), "work found starts over")
	require.Greater(t, p.Polls(), int64(6))
}

func TestCeilingAtIntervalKeepsPolling(t *testing.T) {
	p := idlepoll.New(idlepoll.Config{Interval: time.Millisecond, Ceiling: time.Millisecond})
	for range 5 {
		p.Quiet()
	}
	require.Equal(t, time.Millisecond, p.Wait())
}

func TestWakeEndsLongWait(t *testing.T) {
	wake := events.NewNotifier()
	p := idlepoll.New(idlepoll.Config{Interval: time.Minute, Ceiling: time.Hour, Wake: wake})

	done := make(chan struct{})
	go func() {
		p.Quiet()
		close(done)
	}()
	// The poller may not wait yet when Notify runs, so notify until it
	// returns; a wait of a minute would fail the test's deadline.
	deadline := time.After(10 * time.Second)
	for {
		wake.Notify()
		select {
		case <-done:
			require.Equal(t, int64(1), p.Polls())
			return
		case <-deadline:
			t.Fatal("Notify did not end a one-minute wait")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestDoneEndsWait(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	p := idlepoll.New(idlepoll.Config{Interval: time.Hour, Done: stop})
	p.Quiet()
	require.Equal(t, int64(1), p.Polls())
}

func TestNilNotifierNeverFires(t *testing.T) {
	var n *events.Notifier
	n.Notify()
	select {
	case <-n.Next():
		t.Fatal("a nil Notifier fired")
	default:
	}
}

func scaled(waits []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(waits))
	for i, w := range waits {
		out[i] = w / unit
	}
	return out
}

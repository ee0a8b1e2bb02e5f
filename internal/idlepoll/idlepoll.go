// Package idlepoll paces a poller of the database, such as a watermill-sql
// subscriber. A quiet database is queried less and less often, so a
// serverless compute can scale to zero, and an append in this process
// still wakes the poller at once.
package idlepoll

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/todolog/todolog/events"
)

// Config paces one poller.
type Config struct {
	// Name labels the poller's count in TotalPolls, such as
	// "projection_tasks". Empty leaves it out.
	Name string
	// Interval is the wait after an empty poll while the database is busy.
	Interval time.Duration
	// Grace is how long polls must keep finding nothing before the waits
	// grow.
	Grace time.Duration
	// Ceiling is the longest wait: after Grace, each empty poll doubles the
	// wait up to Ceiling. A Ceiling of Interval or less keeps polling at
	// Interval.
	Ceiling time.Duration
	// Wake ends a wait early when an append of this process commits. Nil
	// means only the timer ends a wait.
	Wake *events.Notifier
	// Done ends every wait at once, when the poller shuts down.
	Done <-chan struct{}
}

// Poller counts the polls of one subscriber and decides its waits. It is
// safe for concurrent use.
type Poller struct {
	cfg   Config
	polls atomic.Int64

	mu         sync.Mutex
	quietSince time.Time
	wait       time.Duration
}

// registry holds the named Pollers of the process, for TotalPolls.
var registry struct {
	sync.Mutex
	pollers []*Poller
}

// New returns a Poller for cfg.
func New(cfg Config) *Poller {
	p := &Poller{cfg: cfg}
	if cfg.Name != "" {
		registry.Lock()
		registry.pollers = append(registry.pollers, p)
		registry.Unlock()
	}
	return p
}

// TotalPolls returns the polls of every named Poller of the process,
// summed by name.
func TotalPolls() map[string]int64 {
	registry.Lock()
	defer registry.Unlock()
	totals := map[string]int64{}
	for _, p := range registry.pollers {
		totals[p.cfg.Name] += p.Polls()
	}
	return totals
}

// Polls returns how many polls the Poller has seen.
func (p *Poller) Polls() int64 { return p.polls.Load() }

// Found records a poll that found work: the next empty poll starts a new
// quiet period.
func (p *Poller) Found() {
	p.polls.Add(1)
	p.mu.Lock()
	p.quietSince = time.Time{}
	p.wait = 0
	p.mu.Unlock()
}

// Failed records a poll that failed; the caller decides the wait.
func (p *Poller) Failed() { p.polls.Add(1) }

// Quiet records a poll that found nothing and waits before the next one:
// Interval at first, then, once the database has been quiet for Grace,
// twice the previous wait up to Ceiling. It returns early when Wake fires,
// and then starts a new quiet period, or when Done is closed.
func (p *Poller) Quiet() {
	p.polls.Add(1)
	wait := p.nextWait(time.Now())
	wake := p.cfg.Wake.Next()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-wake:
		p.mu.Lock()
		p.quietSince = time.Time{}
		p.wait = 0
		p.mu.Unlock()
	case <-p.cfg.Done:
	}
}

// Wait returns the wait the next empty poll would start with, for logs and
// tests.
func (p *Poller) Wait() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.wait, p.cfg.Interval)
}

func (p *Poller) nextWait(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quietSince.IsZero() {
		p.quietSince = now
	}
	switch {
	case p.cfg.Ceiling <= p.cfg.Interval || now.Sub(p.quietSince) < p.cfg.Grace:
		p.wait = p.cfg.Interval
	case p.wait < p.cfg.Interval:
		p.wait = p.cfg.Interval
	default:
		p.wait = min(2*p.wait, p.cfg.Ceiling)
	}
	return p.wait
}

package projections

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/todolog/todolog/events"
)

// DefaultIdleGrace and DefaultIdleCeiling pace a quiet projector; see
// Config.IdleCeiling.
const (
	DefaultIdleGrace   = 30 * time.Second
	DefaultIdleCeiling = time.Minute
)

// Defaults for the zero fields of Config.
const (
	DefaultPollInterval  = 250 * time.Millisecond
	DefaultRetryInterval = time.Second
	DefaultBatchSize     = 100
	DefaultMaxAttempts   = 3
	DefaultAttemptDelay  = 100 * time.Millisecond
	DefaultAckDeadline   = 30 * time.Second
	// DefaultCatchUpBatchSize spreads each catch-up transaction's fixed
	// cost (planning the read, a few statements, the commit) over many
	// events and still keeps the transaction short: about 0.1 s per batch
	// in BenchmarkCatchUp on a 2-core machine
	// (docs/benchmarks-projections.md).
	// NOTE: only 2,000 was compared with it, and it was slower.
	DefaultCatchUpBatchSize = 5000
)

// Limits Validate enforces.
const (
	maxBatchSize        = 10_000
	maxMaxAttempts      = 100
	maxCatchUpBatchSize = 50_000
)

// Config configures a Projector. New fills zero fields with the defaults
// above, and negative values are errors.
type Config struct {
	// Logger receives the projector's logs, with a projection attribute.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Projections names the projections this process runs, so processes
	// can split them. Empty means all of Names().
	Projections []string
	// PollInterval is how long a subscriber waits before reading the log
	// again after it found nothing new. It bounds how late a quiet
	// projection applies a new event, and so how long a read-your-writes
	// wait takes. Each poll is one indexed query per projection.
	PollInterval time.Duration
	// IdleGrace and IdleCeiling slow a quiet projector down, so a
	// serverless database can scale to zero: once its polls have found
	// nothing for IdleGrace, each empty poll doubles the wait, up to
	// IdleCeiling. An append of this process (Wake) ends the wait at once;
	// an append of another process waits up to IdleCeiling. An IdleCeiling
	// of PollInterval or less polls at PollInterval always. 0 means
	// DefaultIdleGrace and DefaultIdleCeiling.
	IdleGrace   time.Duration
	IdleCeiling time.Duration
	// Wake ends a projector's wait between polls. Nil means events.Appends,
	// which every Append of this process given a *sql.DB notifies.
	Wake *events.Notifier
	// RetryInterval is how long a subscriber waits after a failed query or
	// a rolled-back batch before reading again.
	RetryInterval time.Duration
	// BatchSize is the maximum number of events one subscriber transaction
	// reads and applies. A rolled-back batch is read again in full.
	BatchSize int
	// MaxAttempts is how many times the handler tries to apply an event
	// that fails on its own content before parking it.
	MaxAttempts int
	// AttemptDelay is the wait between two attempts at one event.
	AttemptDelay time.Duration
	// AckDeadline bounds the time the handler may take to settle one event.
	// When it runs out, the subscriber commits the events settled before
	// and reads the rest again. It must exceed the attempts' delays.
	AckDeadline time.Duration
	// CatchUpBatchSize is the maximum number of events one transaction of
	// the catch-up loop reads and applies with set-based statements. The
	// loop runs when the projector starts and whenever a subscriber
	// transaction delivers a full batch (BatchSize events), and hands back
	// to the subscriber once a read comes back short. A larger batch
	// commits less often but holds the checkpoint lock, and every later
	// transaction id, longer.
	CatchUpBatchSize int
	// DisableCatchUp turns the catch-up loop off, so the subscriber applies
	// every event with its own statements, even far behind the log.
	DisableCatchUp bool
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.Projections) == 0 {
		c.Projections = Names()
	}
	if c.IdleGrace == 0 {
		c.IdleGrace = DefaultIdleGrace
	}
	if c.IdleCeiling == 0 {
		c.IdleCeiling = DefaultIdleCeiling
	}
	if c.Wake == nil {
		c.Wake = events.Appends
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.AttemptDelay == 0 {
		c.AttemptDelay = DefaultAttemptDelay
	}
	if c.AckDeadline == 0 {
		c.AckDeadline = DefaultAckDeadline
	}
	if c.CatchUpBatchSize == 0 {
		c.CatchUpBatchSize = DefaultCatchUpBatchSize
	}
}

// Validate returns every problem of c at once, joined with errors.Join, or
// nil. It expects the defaults filled in, as New does before calling it.
func (c Config) Validate() error {
	var problems []error
	seen := map[string]bool{}
	for _, name := range c.Projections {
		if !slices.Contains(Names(), name) {
			problems = append(problems, fmt.Errorf("projections: %w %q (the projections are %v)", ErrUnknownProjection, name, Names()))
		} else if seen[name] {
			problems = append(problems, fmt.Errorf("projections: %q is listed twice", name))
		}
		seen[name] = true
	}
	if c.IdleGrace < 0 || c.IdleCeiling < 0 {
		problems = append(problems, fmt.Errorf("idle grace and idle ceiling must be 0 (the defaults, %s and %s) or more, got %s and %s",
			DefaultIdleGrace, DefaultIdleCeiling, c.IdleGrace, c.IdleCeiling))
	}
	if c.PollInterval <= 0 {
		problems = append(problems, fmt.Errorf("poll interval must be positive, got %s", c.PollInterval))
	}
	if c.RetryInterval <= 0 {
		problems = append(problems, fmt.Errorf("retry interval must be positive, got %s", c.RetryInterval))
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		problems = append(problems, fmt.Errorf("batch size must be 1 to %d, got %d", maxBatchSize, c.BatchSize))
	}
	if c.CatchUpBatchSize < 1 || c.CatchUpBatchSize > maxCatchUpBatchSize {
		problems = append(problems, fmt.Errorf("catch-up batch size must be 1 to %d, got %d", maxCatchUpBatchSize, c.CatchUpBatchSize))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > maxMaxAttempts {
		problems = append(problems, fmt.Errorf("max attempts must be 1 to %d, got %d", maxMaxAttempts, c.MaxAttempts))
	}
	if c.AttemptDelay < 0 {
		problems = append(problems, fmt.Errorf("attempt delay must not be negative, got %s", c.AttemptDelay))
	}
	if c.AckDeadline <= 0 {
		problems = append(problems, fmt.Errorf("ack deadline must be positive, got %s", c.AckDeadline))
	} else if delays := time.Duration(max(c.MaxAttempts-1, 0)) * c.AttemptDelay; c.AckDeadline <= delays {
		problems = append(problems, fmt.Errorf("ack deadline %s must exceed the %s the attempts wait in total, or no event could be parked",
			c.AckDeadline, delays))
	}
	return errors.Join(problems...)
}

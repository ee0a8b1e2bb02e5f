package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
)

// Defaults for the zero fields of Config.
const (
	DefaultActor       = "todolog-replay-trace"
	DefaultMaxAttempts = 5
)

// Config configures Replay.
type Config struct {
	// Dispatcher handles the commands. Required. It must be safe for
	// concurrent use when Concurrency is above 1.
	Dispatcher commands.Dispatcher
	// RunID prefixes every idempotency key (see MessageCommandID). Replaying
	// a trace again with the same RunID and UserPrefix writes nothing twice.
	// Required.
	RunID string
	// UserPrefix is put before each trace user key to form the todolog user
	// id, so one trace can be replayed as new users.
	UserPrefix string
	// Concurrency is how many users are replayed at once; each user's lines
	// stay in order. 0 means 1.
	Concurrency int
	// Speed 0 replays as fast as the service allows. Otherwise each line is
	// sent when its time since the trace's first line, divided by Speed,
	// has passed: 1 is real time, 60 a minute per second.
	Speed float64
	// Actor is stored in every event's metadata. Empty means DefaultActor.
	Actor string
	// MaxAttempts bounds the tries of one command that fails with a
	// transient error (the database or the service is unavailable). Each
	// retry sends the same idempotency key. 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Logger receives a Warn record per retry and per command that changed
	// nothing. Nil means slog.Default().
	Logger *slog.Logger
	// OnLine, when set, is called after each line's commands were handled,
	// from several goroutines at once, for a progress display.
	OnLine func()
}

// Validate returns every problem with c at once, joined.
func (c Config) Validate() error {
	var problems []error
	if c.Dispatcher == nil {
		problems = append(problems, errors.New("trace: Config.Dispatcher is required"))
	}
	if err := CheckRunID(c.RunID); err != nil {
		problems = append(problems, fmt.Errorf("trace: Config.RunID: %w", err))
	}
	if c.Concurrency < 0 {
		problems = append(problems, fmt.Errorf("trace: Config.Concurrency must be 0 (one user at a time) or more, got %d", c.Concurrency))
	}
	if c.Speed < 0 {
		problems = append(problems, fmt.Errorf("trace: Config.Speed must be 0 (as fast as possible) or positive, got %g", c.Speed))
	}
	if c.MaxAttempts < 0 {
		problems = append(problems, fmt.Errorf("trace: Config.MaxAttempts must be 0 (the default, %d) or more, got %d",
			DefaultMaxAttempts, c.MaxAttempts))
	}
	return errors.Join(problems...)
}

// Report counts what a replay did. After an error it counts the work done
// before the replay stopped.
type Report struct {
	// Lines counts the lines whose message and tool calls were all handled.
	Lines int
	// Users counts the trace's users.
	Users int
	// Commands counts the commands handled, Duplicates those whose
	// idempotency key had been handled before (a rerun), and Unchanged those
	// that found nothing to change.
	Commands   int
	Duplicates int
	Unchanged  int
	Elapsed    time.Duration
	// Tokens are the consistency tokens of each worker's last command.
	// Once the projections have applied all of them, they have applied
	// every command of the replay.
	Tokens []Token
}

// Token is a consistency token and the user whose command returned it,
// which projections.WaitFor needs.
type Token struct {
	UserID string
	Token  string
}

// counters are the Report's counts, updated by the workers.
type counters struct {
	lines, commands, duplicates, unchanged atomic.Int64
}

// Replay sends t's lines through cfg.Dispatcher and returns what it did.
// It stops at the first command that fails for good, with an error naming
// the line, the tool call and the trace keys.
func Replay(ctx context.Context, cfg Config, t *Trace) (Report, error) {
	cfg.Concurrency = max(cfg.Concurrency, 1)
	cfg.Actor = cmp.Or(cfg.Actor, DefaultActor)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	users := t.Users()
	for _, user := range users {
		if err := events.CheckUserID(cfg.UserPrefix + user); err != nil {
			return Report{}, fmt.Errorf("user prefix %q with trace user %s: %w", cfg.UserPrefix, user, err)
		}
	}

	shares := assignUsers(t, cfg.Concurrency)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		count    counters
		wg       sync.WaitGroup
		failOnce sync.Once
		failure  error
	)
	tokens := make([]Token, len(shares))
	start := time.Now()
	for i, lines := range shares {
		w := &worker{cfg: cfg, count: &count, start: start, first: t.Lines[0].At, users: map[string]*userState{}}
		wg.Go(func() {
			err := w.run(ctx, lines)
			tokens[i] = w.lastToken
			if err != nil {
				failOnce.Do(func() {
					failure = err
					cancel()
				})
			}
		})
	}
	wg.Wait()

	report := Report{
		Lines:      int(count.lines.Load()),
		Users:      len(users),
		Commands:   int(count.commands.Load()),
		Duplicates: int(count.duplicates.Load()),
		Unchanged:  int(count.unchanged.Load()),
		Elapsed:    time.Since(start),
	}
	for _, token := range tokens {
		if token.Token != "" {
			report.Tokens = append(report.Tokens, token)
		}
	}
	return report, failure
}

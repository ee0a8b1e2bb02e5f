package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SuiteConfig sizes the suite that `todolog bench` runs.
type SuiteConfig struct {
	// DB is a migrated scratch database that the suite may fill. Its pool
	// must allow more open connections than the largest client count.
	DB *sql.DB
	// Clients lists the client counts of the write steps.
	Clients []int
	// StepDuration is how long each write step runs.
	StepDuration time.Duration
	// CatchUpEvents is the size of the generated log that the projector
	// catches up on and the rebuild replays, spread over CatchUpUsers.
	CatchUpEvents int
	CatchUpUsers  int
	// QueryMessages is how many messages the conversation of the query and
	// replay steps holds. Queries is how many latest-messages queries each
	// side runs, and Replays how many times each side reads the user.
	QueryMessages int
	Queries       int
	Replays       int
	// LagRate is the steady load, in commands per second, of the lag step,
	// which runs for LagDuration with a projector polling every
	// PollInterval.
	LagRate      int
	LagDuration  time.Duration
	PollInterval time.Duration
	// WatermillPoll is the poll interval of the Watermill command
	// transport's subscribers.
	WatermillPoll time.Duration
	// Logger receives a line as each step starts. Component loggers are
	// derived from it at Warn level.
	Logger *slog.Logger
}

// Validate returns every invalid setting at once.
func (c SuiteConfig) Validate() error {
	var problems []error
	if c.DB == nil {
		problems = append(problems, errors.New("the suite needs a database"))
	}
	if len(c.Clients) == 0 {
		problems = append(problems, errors.New("the client list is empty"))
	}
	for _, clients := range c.Clients {
		if clients < 1 {
			problems = append(problems, fmt.Errorf("client counts must be 1 or more, got %d", clients))
		}
	}
	positive := map[string]int64{
		"step duration": int64(c.StepDuration), "catch-up events": int64(c.CatchUpEvents),
		"catch-up users": int64(c.CatchUpUsers), "query messages": int64(c.QueryMessages),
		"queries": int64(c.Queries), "replays": int64(c.Replays), "lag rate": int64(c.LagRate),
		"lag duration": int64(c.LagDuration), "poll interval": int64(c.PollInterval),
		"Watermill poll interval": int64(c.WatermillPoll),
	}
	for name, value := range positive {
		if value <= 0 {
			problems = append(problems, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.QueryMessages < latestMessages {
		problems = append(problems, fmt.Errorf("query messages must be at least %d, the page the query reads, got %d",
			latestMessages, c.QueryMessages))
	}
	return errors.Join(problems...)
}

// Report holds everything one suite run measured.
type Report struct {
	Config    SuiteConfig
	Writes    []WriteStep
	Watermill []WatermillStep
	ReadSide  ReadSide
	Lag       LagResult
	Memory    Memory
	Elapsed   time.Duration
}

// WriteStep is one client count of the append and command steps.
type WriteStep struct {
	Clients   int
	Plain     LoadResult
	Append    LoadResult
	InProcess LoadResult
	HTTP      LoadResult
}

// WatermillStep is one client count of the Watermill transport step.
type WatermillStep struct {
	Clients   int
	Publisher LoadResult
	Commands  LoadResult
}

// RunSuite runs every step on cfg.DB and returns the report.
func RunSuite(ctx context.Context, cfg SuiteConfig) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, fmt.Errorf("invalid benchmark settings: %w", err)
	}
	start := time.Now()
	report := Report{Config: cfg}
	memory, err := startMemory()
	if err != nil {
		return report, err
	}

	if report.Writes, report.Watermill, err = runWrites(ctx, cfg); err != nil {
		return report, err
	}
	if report.ReadSide, err = runReadSide(ctx, cfg); err != nil {
		return report, err
	}
	cfg.Logger.Info("measuring end-to-end lag", "rate", cfg.LagRate, "duration", cfg.LagDuration,
		"poll_interval", cfg.PollInterval)
	if report.Lag, err = runLag(ctx, cfg); err != nil {
		return report, err
	}
	if report.Memory, err = memory.finish(); err != nil {
		return report, err
	}
	report.Elapsed = time.Since(start)
	return report, nil
}

// componentLogger returns a logger for the service's components that
// passes only warnings and errors.
func componentLogger(logger *slog.Logger) *slog.Logger {
	return slog.New(minimumLevel{Handler: logger.Handler(), level: slog.LevelWarn})
}

// minimumLevel drops records below level.
type minimumLevel struct {
	slog.Handler
	level slog.Level
}

func (h minimumLevel) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.level && h.Handler.Enabled(ctx, level)
}

func (h minimumLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minimumLevel{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h minimumLevel) WithGroup(name string) slog.Handler {
	return minimumLevel{Handler: h.Handler.WithGroup(name), level: h.level}
}

package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/todolog/todolog/internal/idlepoll"
)

// Projector runs the projections as handlers of one Watermill router, each
// with its own watermill-sql subscriber and consumer group. Any number of
// Projectors, in one process or many, may run against one database: the
// checkpoint row lock lets one of them at a time apply a projection's
// events. A Projector runs only once, so create a new one to run again.
type Projector struct {
	router   *message.Router
	logger   *slog.Logger
	names    []string
	stats    map[string]*counters
	stopping atomic.Bool
	// done ends the subscribers' waits between polls when the Projector
	// stops.
	done     chan struct{}
	stopOnce sync.Once
	catchUp  catchUpLoops
}

// New builds a Projector reading the log through db. It fills the zero
// fields of cfg with defaults and returns every problem Validate finds.
func New(db *sql.DB, cfg Config) (*Projector, error) {
	if db == nil {
		return nil, errors.New("projector needs a database, got nil")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid projector config: %w", err)
	}

	// Watermill logs every subscriber and handler start and stop at Info.
	// The Projector logs its own start and stop, so those go to Debug.
	watermillLogger := watermill.NewSlogLoggerWithLevelMapping(cfg.Logger,
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{}, watermillLogger)
	if err != nil {
		return nil, fmt.Errorf("creating the projector's router: %w", err)
	}

	p := &Projector{router: router, logger: cfg.Logger, names: cfg.Projections, stats: map[string]*counters{},
		done: make(chan struct{})}
	for _, name := range cfg.Projections {
		logger := cfg.Logger.With("projection", name)
		catchUp, schema := newCatchUp(db, name, cfg, logger)
		ackDeadline := cfg.AckDeadline
		subscriber, err := watermillsql.NewSubscriber(operatorDB{db}, watermillsql.SubscriberConfig{
			ConsumerGroup:  name,
			AckDeadline:    &ackDeadline,
			PollInterval:   cfg.PollInterval,
			ResendInterval: cfg.RetryInterval,
			RetryInterval:  cfg.RetryInterval,
			BackoffManager: &backoff{logger: logger, pollInterval: cfg.PollInterval, retryInterval: cfg.RetryInterval,
				stopping: &p.stopping,
				poller: idlepoll.New(idlepoll.Config{
					Name: "projection_" + name, Interval: cfg.PollInterval, Grace: cfg.IdleGrace,
					Ceiling: cfg.IdleCeiling, Wake: cfg.Wake, Done: p.done,
				})},
			SchemaAdapter:  schema,
			OffsetsAdapter: checkpointOffsets{},
		}, watermillLogger.With(watermill.LogFields{"projection": name}))
		if err != nil {
			return nil, fmt.Errorf("creating the subscriber of projection %s: %w", name, err)
		}
		p.stats[name] = &counters{}
		h := &handler{
			projection:   registry[name],
			maxAttempts:  cfg.MaxAttempts,
			attemptDelay: cfg.AttemptDelay,
			logger:       logger,
			stats:        p.stats[name],
		}
		if catchUp != nil {
			catchUp.attach(h)
			p.catchUp.loops = append(p.catchUp.loops, catchUp)
		}
		router.AddNoPublisherHandler("projection_"+name, eventLogTopic, subscriber, h.handle)
	}
	return p, nil
}

// Run applies events until ctx ends or Close is called, and returns an
// error when a subscription cannot start, for example because the read
// tables' migration has not run.
func (p *Projector) Run(ctx context.Context) error {
	p.logger.Info("projector starting", "projections", p.names)
	stopWatching := context.AfterFunc(ctx, p.stop)
	defer stopWatching()
	p.catchUp.start(ctx, p.router.Running())
	err := p.router.Run(ctx)
	p.catchUp.stop()
	if err != nil {
		p.logger.Error("projector failed", "projections", p.names, "error", err)
		return fmt.Errorf("running projections %v: %w", p.names, err)
	}
	p.logger.Info("projector stopped", "projections", p.names)
	return nil
}

// Running is closed once every subscription has started. It stays closed
// after the Projector stops.
func (p *Projector) Running() <-chan struct{} { return p.router.Running() }

// Close stops the subscribers and waits for the handlers to finish. Events
// settled before the stop commit with their checkpoint and the rest are read
// again by the next run. An event whose writes committed without its
// checkpoint is then found already applied, so nothing is lost or applied
// twice.
func (p *Projector) Close() error {
	p.stop()
	p.catchUp.stop()
	if err := p.router.Close(); err != nil {
		return fmt.Errorf("closing projector: %w", err)
	}
	return nil
}

// Stats returns the counters of each projection this Projector runs, in
// the order of Config.Projections.
func (p *Projector) Stats() []Stats {
	list := make([]Stats, 0, len(p.names))
	for _, name := range p.names {
		list = append(list, p.stats[name].snapshot(name))
	}
	return list
}

// stop marks the Projector as stopping and ends the subscribers' waits.
func (p *Projector) stop() {
	p.stopping.Store(true)
	p.stopOnce.Do(func() { close(p.done) })
}

package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/todolog/todolog/commands"
)

// CommandTransport is a Processor and a Bus on watermill-sql topics of
// their own, in this process.
type CommandTransport struct {
	// Client sends commands through the Bus and waits for the replies.
	Client *commands.Client
	stop   func() error
}

// Close stops the Processor's router and closes the Bus and publishers.
func (t *CommandTransport) Close() error { return t.stop() }

// StartCommandTransport starts a Processor for handler and a Bus on the
// PostgreSQL topics bench_commands_<name> and bench_replies_<name>, created
// on first use, with the given poll interval.
func StartCommandTransport(ctx context.Context, db *sql.DB, handler *commands.Handler, name string,
	poll time.Duration, logger *slog.Logger) (*CommandTransport, error) {
	commandTopic, replyTopic := "bench_commands_"+name, "bench_replies_"+name
	cfg := commands.PostgreSQLConfig{DB: db, Logger: logger, PollInterval: poll, AutoInitializeSchema: true}
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	fail := func(err error) (*CommandTransport, error) {
		return nil, errors.Join(fmt.Errorf("starting the Watermill command transport: %w", err), closeAll())
	}

	commandPublisher, err := commands.NewPostgreSQLCommandPublisher(cfg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, commandPublisher.Close)
	replySubscriber, err := commands.NewPostgreSQLReplySubscriber(cfg)
	if err != nil {
		return fail(err)
	}
	bus, err := commands.NewBus(commands.BusConfig{Publisher: commandPublisher, Subscriber: replySubscriber,
		Logger: logger, Topic: commandTopic, ReplyTopic: replyTopic})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, bus.Close)

	commandSubscriber, err := commands.NewPostgreSQLCommandSubscriber(cfg)
	if err != nil {
		return fail(err)
	}
	replyPublisher, err := commands.NewPostgreSQLReplyPublisher(cfg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, replyPublisher.Close)
	processor, err := commands.NewProcessor(commands.ProcessorConfig{Subscriber: commandSubscriber,
		Publisher: replyPublisher, Handler: handler, Logger: logger, Topic: commandTopic, ReplyTopic: replyTopic})
	if err != nil {
		return fail(err)
	}
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NewSlogLogger(logger))
	if err != nil {
		return fail(err)
	}
	processor.AddToRouter(router)
	routerCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- router.Run(routerCtx) }()
	select {
	case <-router.Running():
	case err := <-stopped:
		cancel()
		return fail(fmt.Errorf("the router stopped before running: %w", err))
	}

	stopRouter := func() error {
		cancel()
		return <-stopped
	}
	closers = append(closers, stopRouter)
	return &CommandTransport{Client: commands.NewClient(bus), stop: closeAll}, nil
}

// DefaultPublisher is the baseline of the Watermill command transport:
// watermill-sql's publisher with its default PostgreSQL schema, publishing
// one message per call to a topic of its own, with nothing consuming it.
type DefaultPublisher struct {
	publisher *watermillsql.Publisher
	topic     string
}

// NewDefaultPublisher creates the publisher and its topic table,
// watermill_<topic>.
func NewDefaultPublisher(db *sql.DB, topic string, logger *slog.Logger) (*DefaultPublisher, error) {
	publisher, err := watermillsql.NewPublisher(db, watermillsql.PublisherConfig{
		SchemaAdapter:        watermillsql.DefaultPostgreSQLSchema{},
		AutoInitializeSchema: true,
	}, watermill.NewSlogLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("creating watermill-sql's default publisher: %w", err)
	}
	return &DefaultPublisher{publisher: publisher, topic: topic}, nil
}

// Publish publishes one message whose payload is an AddTask command's JSON.
func (p *DefaultPublisher) Publish(user string) error {
	payload := fmt.Sprintf(`{"command": "AddTask", "user_id": %q, "title": %q}`, user, Title)
	return p.publisher.Publish(p.topic, message.NewMessage(watermill.NewUUID(), message.Payload(payload)))
}

// Close closes the publisher.
func (p *DefaultPublisher) Close() error { return p.publisher.Close() }

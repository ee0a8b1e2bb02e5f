package commands

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/idlepoll"
)

// CommandConsumerGroup is the watermill-sql consumer group of every
// Processor, so that each command is handled by one of them.
const CommandConsumerGroup = "todolog_commands"

// DefaultPollInterval is the PostgreSQLConfig.PollInterval used when none is
// set. Each subscriber runs one query per interval while its topic is idle,
// and a message waits half an interval on average before it is read, on
// each of the two topics a command crosses.
const DefaultPollInterval = 50 * time.Millisecond

// DefaultCommandBatchSize is the PostgreSQLConfig.CommandBatchSize used when
// none is set. One run of BenchmarkWatermillAddTask had 16 clients, a 5 ms
// poll interval and fsync on, on a 2-core machine. A batch of 10 handled
// 440 commands/s with a median round trip of 33 ms there, and a batch of 1
// handled 270/s with a median of 60 ms. A batch commits once for all its
// commands.
const DefaultCommandBatchSize = 10

// PostgreSQLConfig configures the watermill-sql publishers and subscribers
// that carry commands and replies through PostgreSQL tables, the default
// transport. Migration 000006 creates the tables of CommandTopic and
// ReplyTopic: watermill_<topic> for the messages and
// watermill_offsets_<topic> for the consumer groups' positions.
type PostgreSQLConfig struct {
	// DB is the pool the tables are read and written on. Required. A
	// command subscriber keeps one connection in a transaction while the
	// Processor handles a command, so the pool needs at least one more for
	// the Handler.
	DB *sql.DB
	// Logger receives Watermill's logs through watermill.NewSlogLogger. Nil
	// means slog.Default().
	Logger *slog.Logger
	// PollInterval is how long a subscriber waits before looking again
	// after finding no message. 0 means DefaultPollInterval.
	PollInterval time.Duration
	// CommandBatchSize is how many commands the command subscriber reads,
	// handles and acknowledges in one transaction. Their replies become
	// visible together when it commits, and while it is open it holds back
	// every reader that waits for older transactions to end, such as the
	// reply subscribers and the projections. 0 means
	// DefaultCommandBatchSize.
	CommandBatchSize int
	// AutoInitializeSchema creates a topic's tables on first use, for
	// topics the migrations do not create.
	AutoInitializeSchema bool
	// IdleGrace and IdleCeiling slow the command subscriber down while the
	// topic stays empty, so a serverless database can scale to zero: after
	// IdleGrace without a command, each empty poll doubles the wait, up to
	// IdleCeiling. A command a Bus of this process publishes ends the wait
	// at once; one from another process waits up to IdleCeiling. An
	// IdleCeiling of PollInterval or less polls at PollInterval always.
	// 0 means DefaultIdleGrace and DefaultIdleCeiling.
	IdleGrace   time.Duration
	IdleCeiling time.Duration
}

// Defaults of the idle back-off of subscribers.
const (
	DefaultIdleGrace   = 30 * time.Second
	DefaultIdleCeiling = time.Minute
)

// Validate returns every problem with c at once, joined.
func (c PostgreSQLConfig) Validate() error {
	var problems []error
	if c.DB == nil {
		problems = append(problems, errors.New("commands: PostgreSQLConfig.DB is required"))
	}
	if c.CommandBatchSize < 0 {
		problems = append(problems, fmt.Errorf("commands: PostgreSQLConfig.CommandBatchSize must be 0 (the default, %d) or more, got %d",
			DefaultCommandBatchSize, c.CommandBatchSize))
	}
	if c.PollInterval < 0 {
		problems = append(problems, fmt.Errorf("commands: PostgreSQLConfig.PollInterval must be 0 (the default, %s) or more, got %s",
			DefaultPollInterval, c.PollInterval))
	}
	if c.IdleGrace < 0 || c.IdleCeiling < 0 {
		problems = append(problems, fmt.Errorf("commands: PostgreSQLConfig.IdleGrace and IdleCeiling must be 0 (the defaults, %s and %s) or more, got %s and %s",
			DefaultIdleGrace, DefaultIdleCeiling, c.IdleGrace, c.IdleCeiling))
	}
	return errors.Join(problems...)
}

// withDefaults fills in c's defaults and validates it.
func (c PostgreSQLConfig) withDefaults() (PostgreSQLConfig, error) {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.IdleGrace = cmp.Or(c.IdleGrace, DefaultIdleGrace)
	c.IdleCeiling = cmp.Or(c.IdleCeiling, DefaultIdleCeiling)
	c.CommandBatchSize = cmp.Or(c.CommandBatchSize, DefaultCommandBatchSize)
	return c, c.Validate()
}

// topicSchema is the watermill-sql schema of both topics. watermill-sql
// v3.1.0 offers no other PostgreSQL schema (its queue schema came with v4),
// and this one reads messages in transaction id order, only below the
// oldest open transaction, so a message that commits late is not skipped.
// Payloads are stored as BYTEA, so a command whose payload is not valid
// JSON or UTF-8 reaches the Processor and gets a reply naming the rule it
// breaks, instead of failing to publish with a PostgreSQL error.
func topicSchema(batchSize int) watermillsql.DefaultPostgreSQLSchema {
	return watermillsql.DefaultPostgreSQLSchema{
		GeneratePayloadType: func(string) string { return "BYTEA" },
		SubscribeBatchSize:  batchSize,
	}
}

// NewPostgreSQLCommandSubscriber returns the Processor's subscriber, in the
// consumer group CommandConsumerGroup. It delivers one message at a time,
// and the next only after the previous one was acknowledged, so the
// Processors of one database handle one command at a time between them.
func NewPostgreSQLCommandSubscriber(cfg PostgreSQLConfig) (message.Subscriber, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	poller := idlepoll.New(idlepoll.Config{
		Name: "commands", Interval: cfg.PollInterval, Grace: cfg.IdleGrace, Ceiling: cfg.IdleCeiling,
		Wake: published, Done: done,
	})
	subscriber, err := watermillsql.NewSubscriber(cfg.DB, watermillsql.SubscriberConfig{
		ConsumerGroup: CommandConsumerGroup,
		PollInterval:  cfg.PollInterval,
		BackoffManager: &idleBackoff{poller: poller,
			failed: watermillsql.NewDefaultBackoffManager(cfg.PollInterval, 0)},
		SchemaAdapter:    topicSchema(cfg.CommandBatchSize),
		OffsetsAdapter:   watermillsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: cfg.AutoInitializeSchema,
	}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	return &pacedSubscriber{Subscriber: subscriber, done: done}, nil
}

// published wakes the command subscribers of this process when a Bus of
// this process publishes a command.
var published = events.NewNotifier()

// idleBackoff paces a subscriber with an idlepoll.Poller while the topic
// is empty, and leaves failed polls to watermill-sql's default back-off.
type idleBackoff struct {
	poller *idlepoll.Poller
	failed watermillsql.BackoffManager
}

// HandleError waits inside the call after an empty poll, so a wake-up ends
// the wait, and returns no further wait.
func (b *idleBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	switch {
	case err != nil:
		b.poller.Failed()
		return b.failed.HandleError(logger, noMsg, err)
	case noMsg:
		b.poller.Quiet()
		return 0
	default:
		b.poller.Found()
		return 0
	}
}

// pacedSubscriber ends its Poller's wait when it closes, so Close does not
// wait out an idle back-off.
type pacedSubscriber struct {
	*watermillsql.Subscriber
	done      chan struct{}
	closeOnce sync.Once
}

// Close ends the idle wait, then closes the subscriber.
func (s *pacedSubscriber) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	return s.Subscriber.Close()
}

// NewPostgreSQLCommandPublisher returns the Bus's publisher, which inserts
// each command in a transaction of its own.
func NewPostgreSQLCommandPublisher(cfg PostgreSQLConfig) (message.Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	publisher, err := watermillsql.NewPublisher(cfg.DB, watermillsql.PublisherConfig{
		SchemaAdapter:        topicSchema(0),
		AutoInitializeSchema: cfg.AutoInitializeSchema,
	}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	return publisher, nil
}

// NewPostgreSQLReplyPublisher returns the Processor's publisher. A reply to
// a message that watermill-sql delivered is inserted in the transaction
// that acknowledges the message, so the reply is published exactly when
// the command is acknowledged. Other replies get a transaction of their
// own.
func NewPostgreSQLReplyPublisher(cfg PostgreSQLConfig) (message.Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	publisher, err := newTxPublisher(cfg.DB, topicSchema(0), cfg.AutoInitializeSchema, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	return publisher, nil
}

// NewPostgreSQLReplySubscriber returns a subscriber for one Bus, in a
// consumer group of its own named "todolog_replies_<UUID>". The group
// starts after the replies already written, instead of at the start of the
// table, and its row in the offsets table is deleted when the subscriber is
// closed.
func NewPostgreSQLReplySubscriber(cfg PostgreSQLConfig) (message.Subscriber, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	logger := watermill.NewSlogLogger(cfg.Logger)
	offsets := replyOffsetsAdapter{}
	group := "todolog_replies_" + uuid.NewString()
	subscriber, err := watermillsql.NewSubscriber(cfg.DB, watermillsql.SubscriberConfig{
		ConsumerGroup:    group,
		PollInterval:     cfg.PollInterval,
		SchemaAdapter:    topicSchema(0),
		OffsetsAdapter:   offsets,
		InitializeSchema: cfg.AutoInitializeSchema,
	}, logger)
	if err != nil {
		return nil, err
	}
	return &replySubscriber{
		Subscriber:    subscriber,
		db:            cfg.DB,
		offsets:       offsets,
		consumerGroup: group,
	}, nil
}

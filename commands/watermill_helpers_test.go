package commands_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/pgtest"
)

// testPollInterval keeps the subscribers' idle wait short, so a round trip
// through the tables takes milliseconds.
const testPollInterval = 10 * time.Millisecond

// topics names a command topic and its reply topic.
type topics struct{ commands, replies string }

// defaultTopics are the topics the migrations create.
var defaultTopics = topics{commands: commands.CommandTopic, replies: commands.ReplyTopic}

// newTopics returns topics no other test uses, so a test can stop or break
// its Processor without taking other tests' commands. Their tables are
// created on first use.
func newTopics() topics {
	suffix := strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	return topics{commands: "commands_" + suffix, replies: "command_replies_" + suffix}
}

// postgreSQLConfig returns the transport settings of a test on db. Topics
// other than the default ones need their tables created.
func postgreSQLConfig(t testing.TB, db *sql.DB, topics topics) commands.PostgreSQLConfig {
	return commands.PostgreSQLConfig{
		DB:                   db,
		Logger:               testLogger(t),
		PollInterval:         testPollInterval,
		AutoInitializeSchema: topics != defaultTopics,
	}
}

// startProcessor runs a Processor for handler on topics in a router of its
// own, on watermill-sql, until the test ends.
func startProcessor(t testing.TB, db *sql.DB, handler *commands.Handler, topics topics,
	retryTimeout time.Duration) {
	t.Helper()
	cfg := postgreSQLConfig(t, db, topics)
	subscriber, err := commands.NewPostgreSQLCommandSubscriber(cfg)
	require.NoError(t, err)
	publisher, err := commands.NewPostgreSQLReplyPublisher(cfg)
	require.NoError(t, err)
	runProcessor(t, commands.ProcessorConfig{
		Subscriber:   subscriber,
		Publisher:    publisher,
		Handler:      handler,
		Logger:       testLogger(t),
		Topic:        topics.commands,
		ReplyTopic:   topics.replies,
		RetryTimeout: retryTimeout,
	})
}

// runProcessor runs a Processor with cfg in a router of its own until the
// test ends.
func runProcessor(t testing.TB, cfg commands.ProcessorConfig) {
	t.Helper()
	processor, err := commands.NewProcessor(cfg)
	require.NoError(t, err)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second},
		watermill.NewSlogLogger(testLogger(t)))
	require.NoError(t, err)
	processor.AddToRouter(router)

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- router.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-stopped)
		require.NoError(t, cfg.Publisher.Close())
	})
	select {
	case <-router.Running():
	case err := <-stopped:
		t.Fatalf("router stopped before running: %v", err)
	}
}

// newBus returns a Bus sending to topics on watermill-sql, closed at
// cleanup.
func newBus(t testing.TB, db *sql.DB, topics topics) *commands.Bus {
	t.Helper()
	cfg := postgreSQLConfig(t, db, topics)
	publisher, err := commands.NewPostgreSQLCommandPublisher(cfg)
	require.NoError(t, err)
	subscriber, err := commands.NewPostgreSQLReplySubscriber(cfg)
	require.NoError(t, err)
	bus, err := commands.NewBus(commands.BusConfig{
		Publisher:  publisher,
		Subscriber: subscriber,
		Logger:     testLogger(t),
		Topic:      topics.commands,
		ReplyTopic: topics.replies,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, bus.Close())
		require.NoError(t, publisher.Close())
	})
	return bus
}

// newWatermillClient returns a Client whose commands cross the default
// topics to a Processor of its own, and the database pool.
func newWatermillClient(t *testing.T) (*commands.Client, *commands.Bus, *sql.DB) {
	t.Helper()
	handler, db := newHandler(t)
	db.SetMaxOpenConns(16)
	bus := newBus(t, db, defaultTopics)
	startProcessor(t, db, handler, defaultTopics, 0)
	return commands.NewClient(bus), bus, db
}

// requireReplyError returns err as a *ReplyError with the given code.
func requireReplyError(t *testing.T, err error, code string) *commands.ReplyError {
	t.Helper()
	var replyErr *commands.ReplyError
	require.ErrorAs(t, err, &replyErr)
	require.Equal(t, code, replyErr.Code, "error code of %v", err)
	return replyErr
}

// openPool returns a new pool on the package's database.
func openPool(t testing.TB) *sql.DB {
	return pgtest.Open(t, pgtest.URL())
}

package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
)

// closedPortURL returns a database URL on a loopback port that nothing
// listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := listener.Addr().(*net.TCPAddr).Port
	require.NoError(t, listener.Close())
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/todolog?sslmode=disable&connect_timeout=1", port)
}

func TestWatermillRedeliveredMessageWritesOnce(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	topics := newTopics()
	cfg := postgreSQLConfig(t, db, topics)
	replySubscriber, err := commands.NewPostgreSQLReplySubscriber(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, replySubscriber.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := replySubscriber.Subscribe(ctx, topics.replies)
	require.NoError(t, err)
	startProcessor(t, db, handler, topics, 0)

	// A publisher other than the Bus sends a command without a command id,
	// and the same message arrives twice, as after a lost acknowledgement.
	user := newUser()
	publisher, err := commands.NewPostgreSQLCommandPublisher(cfg)
	require.NoError(t, err)
	msg, err := commands.NewCommandMessage(commands.AddTask{Header: commands.Header{UserID: user}, Title: "milk"})
	require.NoError(t, err)
	for i := range 2 {
		delivery := msg.Copy()
		delivery.Metadata.Set(commands.MetadataOperationID, fmt.Sprintf("operation-%d", i))
		require.NoError(t, publisher.Publish(topics.commands, delivery))
	}

	var results []commands.Result
	for len(results) < 2 {
		select {
		case reply := <-replies:
			reply.Ack()
			require.Equal(t, "0", reply.Metadata.Get(commands.MetadataHasError), string(reply.Payload))
			var result commands.Result
			require.NoError(t, json.Unmarshal(reply.Payload, &result))
			results = append(results, result)
		case <-ctx.Done():
			t.Fatalf("got %d of 2 replies: %v", len(results), ctx.Err())
		}
	}
	require.Equal(t, msg.UUID, results[0].CommandID, "the message UUID is the command id")
	require.False(t, results[0].Duplicate)
	require.True(t, results[1].Duplicate)
	require.Equal(t, results[0].TaskID, results[1].TaskID)
	require.Equal(t, 1, countEvents(t, db, user))

	// The last reply was written by the transaction that last moved the
	// consumer group's position, the one that acknowledged its command.
	// xmin holds the low 32 bits of that transaction's id.
	var sameTransaction bool
	require.NoError(t, db.QueryRow(`SELECT
		(SELECT transaction_id::text::numeric % 4294967296 FROM "watermill_`+topics.replies+`"
			ORDER BY transaction_id DESC, "offset" DESC LIMIT 1)
		= (SELECT xmin::text::numeric FROM "watermill_offsets_`+topics.commands+`" WHERE consumer_group = $1)`,
		commands.CommandConsumerGroup).Scan(&sameTransaction))
	require.True(t, sameTransaction, "the reply and the acknowledgement commit together")
}

func TestWatermillOverGoChannel(t *testing.T) {
	t.Parallel()
	handler, db := newHandler(t)
	pubSub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NewSlogLogger(testLogger(t)))
	t.Cleanup(func() { require.NoError(t, pubSub.Close()) })
	runProcessor(t, commands.ProcessorConfig{
		Subscriber: sharedGoChannel{pubSub}, Publisher: sharedGoChannel{pubSub}, Handler: handler, Logger: testLogger(t),
	})
	bus, err := commands.NewBus(commands.BusConfig{
		Publisher: pubSub, Subscriber: sharedGoChannel{pubSub}, Logger: testLogger(t),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	client := commands.NewClient(bus)
	ctx := context.Background()
	user := newUser()

	conversation, err := client.AppendMessage(ctx, user, 0, commands.RoleUser, "hello")
	require.NoError(t, err)
	require.Positive(t, conversation.ConversationID)
	require.Positive(t, conversation.MessageID)
	_, err = client.AppendMessage(ctx, user, conversation.ConversationID, "narrator", "hi")
	require.ErrorIs(t, err, commands.ErrInvalid)
	_, err = bus.HandleJSON(ctx, commands.NameDeleteTask, []byte(`{"user_id": "`+user+`", "task_id": 999999999}`))
	require.ErrorIs(t, err, commands.ErrNotFound)
	require.Equal(t, 2, countEvents(t, db, user))
}

// sharedGoChannel is a GoChannel whose Close does nothing, so that the
// router and the Bus, which close their subscribers, leave it open for the
// other users and the test closes it.
type sharedGoChannel struct{ *gochannel.GoChannel }

func (sharedGoChannel) Close() error { return nil }

func TestWatermillConfigsReportEveryProblem(t *testing.T) {
	_, err := commands.NewProcessor(commands.ProcessorConfig{RetryTimeout: -time.Second})
	require.ErrorContains(t, err, "Subscriber is required")
	require.ErrorContains(t, err, "Publisher is required")
	require.ErrorContains(t, err, "Handler is required")
	require.ErrorContains(t, err, "RetryTimeout must be 0")

	pubSub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer pubSub.Close()
	_, err = commands.NewBus(commands.BusConfig{Publisher: pubSub, Topic: "same", ReplyTopic: "same", Timeout: -1})
	require.ErrorContains(t, err, "Subscriber is required")
	require.ErrorContains(t, err, "must differ")
	require.ErrorContains(t, err, "Timeout must be 0")

	_, err = commands.NewPostgreSQLCommandSubscriber(commands.PostgreSQLConfig{PollInterval: -1})
	require.ErrorContains(t, err, "DB is required")
	require.ErrorContains(t, err, "PollInterval must be 0")
}

func TestWatermillBusClosedFailsWaitingCalls(t *testing.T) {
	t.Parallel()
	pubSub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer pubSub.Close()
	bus, err := commands.NewBus(commands.BusConfig{Publisher: pubSub, Subscriber: sharedGoChannel{pubSub}})
	require.NoError(t, err)

	// No Processor listens, so the call waits until Close.
	failed := make(chan error, 1)
	go func() {
		_, err := commands.NewClient(bus).StartConversation(context.Background(), newUser())
		failed <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, bus.Close())
	require.ErrorIs(t, <-failed, commands.ErrBusClosed)

	_, err = commands.NewClient(bus).StartConversation(context.Background(), newUser())
	require.ErrorIs(t, err, commands.ErrBusClosed)
}

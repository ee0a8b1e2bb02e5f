package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// DefaultBusTimeout is the BusConfig.Timeout used when none is set.
const DefaultBusTimeout = 10 * time.Second

// BusConfig configures a Bus.
type BusConfig struct {
	// Publisher publishes the commands. Required. It may be shared.
	Publisher message.Publisher
	// Subscriber delivers the reply topic. Required. It must deliver every
	// reply to this Bus, because the Bus drops the replies meant for others:
	// on watermill-sql that takes a consumer group of its own, which
	// NewPostgreSQLReplySubscriber creates. The Bus closes it on Close.
	Subscriber message.Subscriber
	// Logger receives a Debug record per command. Nil means slog.Default().
	Logger *slog.Logger
	// Topic and ReplyTopic default to CommandTopic and ReplyTopic, and must
	// match the Processor's.
	Topic      string
	ReplyTopic string
	// Timeout bounds the wait for a reply when the caller's context has no
	// deadline. 0 means DefaultBusTimeout.
	Timeout time.Duration
}

// Validate returns every problem with c at once, joined.
func (c BusConfig) Validate() error {
	var problems []error
	if c.Publisher == nil {
		problems = append(problems, errors.New("commands: BusConfig.Publisher is required"))
	}
	if c.Subscriber == nil {
		problems = append(problems, errors.New("commands: BusConfig.Subscriber is required"))
	}
	if c.Topic != "" && c.Topic == c.ReplyTopic {
		problems = append(problems, fmt.Errorf("commands: BusConfig.Topic and ReplyTopic must differ, both are %q", c.Topic))
	}
	if c.Timeout < 0 {
		problems = append(problems, fmt.Errorf("commands: BusConfig.Timeout must be 0 (the default, %s) or more, got %s",
			DefaultBusTimeout, c.Timeout))
	}
	return errors.Join(problems...)
}

// Bus is the client side of the Watermill transport: a Dispatcher that
// publishes each command to the command topic and waits for the Processor's
// reply, so NewClient(bus) works as NewClient(handler) does in process. It
// is safe for concurrent use.
//
// A command without a command id gets a new one before it is published, so
// the Processor can recognize a second delivery of the same message. To
// make a call that timed out safe to retry, give the command an id
// (WithCommandID) and send it again with that id: it is written at most
// once.
type Bus struct {
	publisher  message.Publisher
	subscriber message.Subscriber
	logger     *slog.Logger
	topic      string
	replyTopic string
	timeout    time.Duration
	waiters    *replyWaiters

	stopListening context.CancelFunc
	listening     chan struct{}
	closeOnce     sync.Once
	closeErr      error
}

var _ Dispatcher = (*Bus)(nil)

// NewBus fills in cfg's defaults, validates it, subscribes to the reply
// topic and returns a Bus. Replies published before NewBus returns may be
// missed, which costs nothing, because no command was sent before either.
func NewBus(cfg BusConfig) (*Bus, error) {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Topic = cmp.Or(cfg.Topic, CommandTopic)
	cfg.ReplyTopic = cmp.Or(cfg.ReplyTopic, ReplyTopic)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultBusTimeout)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	replies, err := cfg.Subscriber.Subscribe(ctx, cfg.ReplyTopic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribing to reply topic %s: %w", cfg.ReplyTopic, err)
	}
	b := &Bus{
		publisher:     cfg.Publisher,
		subscriber:    cfg.Subscriber,
		logger:        cfg.Logger,
		topic:         cfg.Topic,
		replyTopic:    cfg.ReplyTopic,
		timeout:       cfg.Timeout,
		waiters:       newReplyWaiters(),
		stopListening: cancel,
		listening:     make(chan struct{}),
	}
	go func() {
		defer close(b.listening)
		b.waiters.receive(replies)
	}()
	return b, nil
}

// Handle validates cmd, publishes it and returns the result or error in the
// Processor's reply. Invalid input fails at once, with the errors Handler
// gives. A failure the Processor reports is a *ReplyError, testable with
// errors.Is as Handler's errors are. When no reply comes before ctx's
// deadline, or the Bus's Timeout when ctx has none, the error wraps
// context.DeadlineExceeded and the command may or may not have been written.
func (b *Bus) Handle(ctx context.Context, cmd Command) (Result, error) {
	cmd, err := dereference(cmd)
	if err != nil {
		return Result{}, err
	}
	if cmd.CommandHeader().CommandID == "" {
		cmd = withCommandID(cmd, uuid.NewString())
	}
	msg, err := NewCommandMessage(cmd)
	if err != nil {
		return Result{}, err
	}
	header := cmd.CommandHeader()
	return b.send(ctx, msg, cmd.CommandName(), header.UserID, header.CommandID)
}

// HandleJSON publishes the JSON object body of the command called name, as
// Decode reads it, and returns the result or error in the Processor's
// reply. The Processor validates the command, so every input problem comes
// back as a *ReplyError with the field and the rule. It suits a gateway
// that holds commands as JSON. A body without a command id gets the
// message's UUID as its id, which a second call does not repeat.
func (b *Bus) HandleJSON(ctx context.Context, name string, body []byte) (Result, error) {
	return b.send(ctx, newCommandMessage(name, body), name, "", "")
}

// send publishes msg and waits for its reply. userID and commandID are for
// the log and the error messages, and may be empty.
func (b *Bus) send(ctx context.Context, msg *message.Message, name, userID, commandID string) (Result, error) {
	started := time.Now()
	subject := name
	if commandID != "" {
		subject = fmt.Sprintf("%s (command %s)", name, commandID)
	}
	// A command sent after its deadline would only be skipped.
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%s: not sent: %w", subject, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	operationID := watermill.NewUUID()
	requestReply(msg, operationID, deadline)

	replies, err := b.waiters.add(operationID)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", subject, err)
	}
	defer b.waiters.remove(operationID)
	if err := b.publisher.Publish(b.topic, msg); err != nil {
		if isTransient(err) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return Result{}, fmt.Errorf("%s: publishing to topic %s: %w", subject, b.topic, err)
	}
	published.Notify()

	var result Result
	select {
	case <-ctx.Done():
		err = fmt.Errorf("%s: no reply on topic %s after %s: %w",
			subject, b.replyTopic, time.Since(started).Round(time.Millisecond), ctx.Err())
	case reply, ok := <-replies:
		if !ok {
			err = fmt.Errorf("%s: %w before the reply arrived", subject, ErrBusClosed)
			break
		}
		result, err = readReply(reply)
	}
	b.logger.DebugContext(ctx, "command sent over watermill", "command", name, "user_id", userID,
		"command_id", cmp.Or(result.CommandID, commandID), "message_uuid", msg.UUID,
		"duration", time.Since(started), "error", err)
	if err != nil {
		return Result{}, err
	}
	return result, nil
}

// Close stops listening for replies and closes the Subscriber. Calls still
// waiting fail with ErrBusClosed. The Publisher is left open, because it may
// be shared.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.stopListening()
		b.closeErr = b.subscriber.Close()
		<-b.listening
	})
	return b.closeErr
}

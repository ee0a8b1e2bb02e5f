package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/todolog/todolog/events"
)

// ProcessorHandlerName is the default name of the Processor's router
// handler.
const ProcessorHandlerName = "todolog_commands"

// DefaultRetryTimeout is the ProcessorConfig.RetryTimeout used when none is
// set. It stays well below watermill-sql's default ack deadline of 30 s,
// after which the subscriber would deliver the message again.
const DefaultRetryTimeout = 10 * time.Second

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	// Subscriber delivers the command topic. Required. Every Processor of
	// one deployment must share its consumer group, so that each command is
	// handled once; NewPostgreSQLCommandSubscriber returns one that does.
	Subscriber message.Subscriber
	// Publisher publishes the replies. Required.
	// NewPostgreSQLReplyPublisher returns one that writes each reply in the
	// transaction that acknowledges its command.
	Publisher message.Publisher
	// Handler handles the commands. Required.
	Handler *Handler
	// Logger receives a Debug record per command message. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Topic and ReplyTopic default to CommandTopic and ReplyTopic.
	Topic      string
	ReplyTopic string
	// HandlerName is the router handler's name. Empty means
	// ProcessorHandlerName.
	HandlerName string
	// RetryTimeout bounds how long a command that fails with a transient
	// database error is tried again before the reply reports
	// ErrUnavailable. The sender's deadline can cut it shorter. 0 means
	// DefaultRetryTimeout.
	RetryTimeout time.Duration
}

// Validate returns every problem with c at once, joined.
func (c ProcessorConfig) Validate() error {
	var problems []error
	if c.Subscriber == nil {
		problems = append(problems, errors.New("commands: ProcessorConfig.Subscriber is required"))
	}
	if c.Publisher == nil {
		problems = append(problems, errors.New("commands: ProcessorConfig.Publisher is required"))
	}
	if c.Handler == nil {
		problems = append(problems, errors.New("commands: ProcessorConfig.Handler is required"))
	}
	if c.Topic != "" && c.Topic == c.ReplyTopic {
		problems = append(problems, fmt.Errorf("commands: ProcessorConfig.Topic and ReplyTopic must differ, both are %q", c.Topic))
	}
	if c.RetryTimeout < 0 {
		problems = append(problems, fmt.Errorf("commands: ProcessorConfig.RetryTimeout must be 0 (the default, %s) or more, got %s",
			DefaultRetryTimeout, c.RetryTimeout))
	}
	return errors.Join(problems...)
}

// Processor is the server side of the Watermill transport: a router handler
// that decodes each command message, handles the command and publishes a
// reply to the operation id in the message's metadata.
//
// A message is acknowledged once its reply is published, also when the
// reply reports an error, so a malformed or invalid command is never
// delivered again. A transient database error is retried within
// RetryTimeout and then reported as ErrUnavailable. The message is
// negatively acknowledged, and so delivered again, only when the reply
// cannot be published or the router shuts down. Handling it again is safe,
// because a command sent without a command id gets the message's UUID as
// its id, which a second delivery repeats.
type Processor struct {
	subscriber   message.Subscriber
	publisher    message.Publisher
	handler      *Handler
	logger       *slog.Logger
	topic        string
	replyTopic   string
	handlerName  string
	retryTimeout time.Duration
}

// NewProcessor fills in cfg's defaults, validates it and returns a
// Processor. Add it to a router with AddToRouter.
func NewProcessor(cfg ProcessorConfig) (*Processor, error) {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Topic = cmp.Or(cfg.Topic, CommandTopic)
	cfg.ReplyTopic = cmp.Or(cfg.ReplyTopic, ReplyTopic)
	cfg.HandlerName = cmp.Or(cfg.HandlerName, ProcessorHandlerName)
	cfg.RetryTimeout = cmp.Or(cfg.RetryTimeout, DefaultRetryTimeout)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{
		subscriber:   cfg.Subscriber,
		publisher:    cfg.Publisher,
		handler:      cfg.Handler,
		logger:       cfg.Logger,
		topic:        cfg.Topic,
		replyTopic:   cfg.ReplyTopic,
		handlerName:  cfg.HandlerName,
		retryTimeout: cfg.RetryTimeout,
	}, nil
}

// AddToRouter adds the Processor's handler to router, subscribed to the
// command topic. The router closes the Subscriber when it stops.
func (p *Processor) AddToRouter(router *message.Router) *message.Handler {
	return router.AddNoPublisherHandler(p.handlerName, p.topic, p.subscriber, p.handleMessage)
}

// handleMessage handles one command message and publishes its reply. It
// returns an error, which makes the router deliver the message again, only
// when the reply cannot be published or the handling was canceled.
func (p *Processor) handleMessage(msg *message.Message) error {
	started := time.Now()
	cmd, result, err := p.process(msg)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("handling command message %s: %w", msg.UUID, err)
	}

	attrs := []any{"message_uuid", msg.UUID, "command", msg.Metadata.Get(MetadataCommandName), "duration", time.Since(started)}
	if cmd != nil {
		header := cmd.CommandHeader()
		attrs = append(attrs, "user_id", header.UserID, "command_id", header.CommandID)
	}
	operationID := msg.Metadata.Get(MetadataOperationID)
	if err == nil {
		p.logger.Debug("command message handled", attrs...)
	} else {
		code := errorCode(err)
		attrs = append(attrs, "code", code, "error", err)
		switch {
		case code == CodeInternal || code == CodeUnavailable:
			p.logger.Error("command message failed", attrs...)
		case operationID == "":
			p.logger.Warn("command message failed and no reply was requested", attrs...)
		default:
			p.logger.Debug("command message failed", attrs...)
		}
	}
	if operationID == "" {
		return nil
	}
	return p.reply(msg, operationID, cmd, result, err)
}

// process decodes and handles the command in msg. The command returned is
// nil when decoding failed. A command without a command id gets the
// message's UUID as its id, so a message delivered twice writes its events
// once. A UUID that is not a valid command id (see events.CommandIDPattern)
// leaves the id to Handle, which generates a new one per delivery.
func (p *Processor) process(msg *message.Message) (Command, Result, error) {
	name := msg.Metadata.Get(MetadataCommandName)
	deadline, deadlineErr := messageDeadline(msg, name)
	cmd, err := Decode(name, msg.Payload)
	if err = errors.Join(deadlineErr, err); err != nil {
		return cmd, Result{}, err
	}
	if cmd.CommandHeader().CommandID == "" && events.CheckCommandID(msg.UUID) == nil {
		cmd = withCommandID(cmd, msg.UUID)
	}

	ctx := msg.Context()
	if !deadline.IsZero() {
		if !time.Now().Before(deadline) {
			return cmd, Result{}, fmt.Errorf("%s (command %s): the sender's deadline %s passed before handling started: %w",
				name, cmd.CommandHeader().CommandID, deadline.Format(time.RFC3339Nano), context.DeadlineExceeded)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	result, err := p.handleRetrying(ctx, cmd)
	return cmd, result, err
}

// handleRetrying handles cmd, trying again after transient database errors
// until p.retryTimeout has passed, the last time when it has. A failure
// after ctx ended wraps ctx's error, because the driver may report the
// cancellation in its own terms.
func (p *Processor) handleRetrying(ctx context.Context, cmd Command) (Result, error) {
	giveUp := time.Now().Add(p.retryTimeout)
	for attempt := 1; ; attempt++ {
		result, err := p.handler.Handle(ctx, cmd)
		if err == nil {
			return result, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(err, ctxErr) {
				return Result{}, err
			}
			return Result{}, fmt.Errorf("%w: %w", ctxErr, err)
		}
		if !isTransient(err) {
			return Result{}, err
		}

		remaining := time.Until(giveUp)
		if remaining <= 0 {
			return Result{}, fmt.Errorf("%w after %d attempts: %w", ErrUnavailable, attempt, err)
		}
		delay := min(transientRetryDelay(attempt), remaining)
		header := cmd.CommandHeader()
		p.logger.Debug("retrying command after a transient database error", "command", cmd.CommandName(),
			"user_id", header.UserID, "command_id", header.CommandID, "attempt", attempt, "delay", delay, "error", err)
		if err := sleep(ctx, delay); err != nil {
			return Result{}, err
		}
	}
}

// reply publishes the reply to msg. The reply's context is msg's, which
// lets a publisher write it in the transaction that delivered msg.
func (p *Processor) reply(msg *message.Message, operationID string, cmd Command, result Result, handleErr error) error {
	var commandID string
	if cmd != nil {
		commandID = cmd.CommandHeader().CommandID
	}
	reply, err := newReply(operationID, result, handleErr, commandID)
	if err != nil {
		return fmt.Errorf("replying to command message %s: %w", msg.UUID, err)
	}
	reply.SetContext(msg.Context())
	if err := p.publisher.Publish(p.replyTopic, reply); err != nil {
		return fmt.Errorf("publishing the reply to command message %s on topic %s: %w", msg.UUID, p.replyTopic, err)
	}
	return nil
}

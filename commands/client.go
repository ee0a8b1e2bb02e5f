package commands

import "context"

// Dispatcher handles a command and returns its result. The Handler is the
// in-process Dispatcher; a transport's client can be another.
type Dispatcher interface {
	Handle(ctx context.Context, cmd Command) (Result, error)
}

// Client gives a Dispatcher one typed method per command. Each call gets a
// new command id unless WithCommandID sets one; pass the same id when
// retrying a call, so the command is written once.
type Client struct {
	dispatcher Dispatcher
}

// NewClient returns a Client that sends its commands to dispatcher.
func NewClient(dispatcher Dispatcher) *Client {
	return &Client{dispatcher: dispatcher}
}

// Option sets an optional header field of a command sent by a Client.
type Option func(*Header)

// WithCommandID sets the command's idempotency key.
func WithCommandID(id string) Option { return func(h *Header) { h.CommandID = id } }

// WithExpectedVersion makes the command fail with ErrConflict unless its
// stream is at version.
func WithExpectedVersion(version int) Option {
	return func(h *Header) { h.ExpectedVersion = &version }
}

// WithCorrelationID stores id in the events' metadata.
func WithCorrelationID(id string) Option { return func(h *Header) { h.CorrelationID = id } }

// WithCausationID stores id in the events' metadata.
func WithCausationID(id string) Option { return func(h *Header) { h.CausationID = id } }

// WithActor stores actor, such as "chat-backend", in the events' metadata.
func WithActor(actor string) Option { return func(h *Header) { h.Actor = actor } }

func newHeader(userID string, options []Option) Header {
	header := Header{UserID: userID}
	for _, option := range options {
		option(&header)
	}
	return header
}

// AddTask adds a task; Result.TaskID is its id.
func (c *Client) AddTask(ctx context.Context, userID, title, description string, options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, AddTask{Header: newHeader(userID, options), Title: title, Description: description})
}

// UpdateTask changes the title, the description or both; nil leaves a field
// as it is.
func (c *Client) UpdateTask(ctx context.Context, userID string, taskID int64, title, description *string,
	options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, UpdateTask{
		Header: newHeader(userID, options), TaskID: taskID, Title: title, Description: description,
	})
}

// CompleteTask marks a task done.
func (c *Client) CompleteTask(ctx context.Context, userID string, taskID int64, options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, CompleteTask{Header: newHeader(userID, options), TaskID: taskID})
}

// ReopenTask marks a completed task open again.
func (c *Client) ReopenTask(ctx context.Context, userID string, taskID int64, options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, ReopenTask{Header: newHeader(userID, options), TaskID: taskID})
}

// DeleteTask removes a task from the list.
func (c *Client) DeleteTask(ctx context.Context, userID string, taskID int64, options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, DeleteTask{Header: newHeader(userID, options), TaskID: taskID})
}

// StartConversation starts a conversation; Result.ConversationID is its id.
func (c *Client) StartConversation(ctx context.Context, userID string, options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, StartConversation{Header: newHeader(userID, options)})
}

// AppendMessage appends a message to conversationID, or to a new
// conversation when conversationID is 0; Result.MessageID and
// Result.ConversationID are the ids.
func (c *Client) AppendMessage(ctx context.Context, userID string, conversationID int64, role, content string,
	options ...Option) (Result, error) {
	return c.dispatcher.Handle(ctx, AppendMessage{
		Header: newHeader(userID, options), ConversationID: conversationID, Role: role, Content: content,
	})
}

package commands

import (
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrBusClosed means the Bus was closed, or its reply subscription ended,
// before the reply arrived.
var ErrBusClosed = errors.New("command bus closed")

// replyWaiters hands the replies of one subscription to the calls waiting
// for them, by operation id. One subscription for all calls replaces
// requestreply.PubSubBackend's subscription per call, which on watermill-sql
// would be a new consumer group per command reading the reply table from
// its start.
type replyWaiters struct {
	mu      sync.Mutex
	waiting map[string]chan *message.Message
	ended   bool
}

func newReplyWaiters() *replyWaiters {
	return &replyWaiters{waiting: make(map[string]chan *message.Message)}
}

// add registers a call waiting for the reply to operationID. The channel
// receives that reply, or is closed when the subscription ends first.
func (w *replyWaiters) add(operationID string) (<-chan *message.Message, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return nil, ErrBusClosed
	}
	replies := make(chan *message.Message, 1)
	w.waiting[operationID] = replies
	return replies, nil
}

// remove unregisters the call waiting for operationID.
func (w *replyWaiters) remove(operationID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiting, operationID)
}

// receive acknowledges every reply of the subscription and passes each to
// the call waiting for it, until the subscription ends. A reply that no
// call waits for, because it belongs to another Bus or came after its
// caller gave up, is dropped.
func (w *replyWaiters) receive(replies <-chan *message.Message) {
	for reply := range replies {
		w.deliver(reply)
		reply.Ack()
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	for operationID, waiting := range w.waiting {
		close(waiting)
		delete(w.waiting, operationID)
	}
}

func (w *replyWaiters) deliver(reply *message.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	waiting, ok := w.waiting[reply.Metadata.Get(MetadataOperationID)]
	if !ok {
		return
	}
	// A command delivered twice is replied to twice; the first reply wins.
	select {
	case waiting <- reply:
	default:
	}
}

package projections

import (
	"context"
	"fmt"

	"github.com/todolog/todolog/events"
)

// Projection names. Each is one Watermill consumer group, one row of
// projection_checkpoints and one unit of rebuild.
const (
	// Tasks maintains the tasks table from task streams.
	Tasks = "tasks"
	// Conversations maintains the conversations and messages tables from
	// conversation streams. One projection owns both tables because
	// messages has a foreign key to conversations. With separate consumer
	// groups, a messages projection could run ahead of the conversation a
	// message belongs to.
	Conversations = "conversations"
)

// Names lists every projection.
func Names() []string { return []string{Tasks, Conversations} }

// projection applies the events of one stream type to its read tables.
type projection struct {
	name       string
	streamType string
	// apply writes one decoded event with a single writing SQL statement,
	// so a transaction that ends early holds all of the event's changes or
	// none.
	// It returns false when the read tables already reflect the event.
	apply func(ctx context.Context, db events.DBTX, r events.Record, e events.Event) (bool, error)
	// newBatch returns an empty batchWriter, which applies many events of
	// the projection with a few set-based statements.
	newBatch func() batchWriter
}

var registry = map[string]projection{
	Tasks: {name: Tasks, streamType: events.StreamTask, apply: applyTaskEvent,
		newBatch: func() batchWriter { return newTaskBatch() }},
	Conversations: {name: Conversations, streamType: events.StreamConversation, apply: applyConversationEvent,
		newBatch: func() batchWriter { return newConversationBatch() }},
}

func lookup(name string) (projection, error) {
	p, ok := registry[name]
	if !ok {
		return projection{}, fmt.Errorf("%w %q: the projections are %v", ErrUnknownProjection, name, Names())
	}
	return p, nil
}

// owns reports whether the projection reads events of r's stream. Events of
// other streams only move its checkpoint.
func (p projection) owns(r events.Record) bool { return r.Stream.Type == p.streamType }

// applyRecord decodes r and applies it. An event that cannot be decoded,
// such as one of an unknown type, is a poison error.
func (p projection) applyRecord(ctx context.Context, db events.DBTX, r events.Record) (bool, error) {
	if !p.owns(r) {
		return false, nil
	}
	e, err := r.Decode()
	if err != nil {
		return false, &poisonError{err: err}
	}
	return p.apply(ctx, db, r, e)
}

// Apply writes one event of the log to the read tables of the named
// projection, through db, and does nothing for events of streams the
// projection does not read. Applying an event a second time changes
// nothing, because each row stores the stream version of the last event
// applied to it. Events of one user must be applied in log order.
//
// The live projector calls it inside its subscriber's transaction; a
// rebuild calls it for every event of events.ReadAll.
func Apply(ctx context.Context, db events.DBTX, projectionName string, r events.Record) error {
	p, err := lookup(projectionName)
	if err != nil {
		return err
	}
	if _, err := p.applyRecord(ctx, db, r); err != nil {
		return fmt.Errorf("projection %s: applying %s at position %d of user %s: %w",
			p.name, r.Type, r.Position, r.UserID, err)
	}
	return nil
}

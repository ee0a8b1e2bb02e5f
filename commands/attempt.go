package commands

import (
	"context"
	"fmt"

	"github.com/todolog/todolog/events"
)

// streamHead is a stream's version and the place of its last event, as read
// before deciding; a new stream has version 0.
type streamHead struct {
	version int
	cursor  events.Cursor
}

// attempt reads the state cmd is decided on, decides and appends once. Each
// read, id and append is one statement scoped to the command's user
// (events.QueryAsUser), a round trip each. The append expects the stream
// version that was read, so a writer that appended in between makes it fail
// with ErrConflict.
func (h *Handler) attempt(ctx context.Context, run *commandRun) (Result, error) {
	cmd, header := run.cmd, run.header
	tx := h.db
	decision, head, err := h.decide(ctx, tx, cmd, header)
	if err != nil {
		return Result{}, err
	}
	if len(decision.Events) == 0 {
		return unchangedResult(header.CommandID, decision.Stream, head.version, head.cursor, decision.Note), nil
	}
	appended, err := events.Append(ctx, tx, events.AppendRequest{
		UserID:          header.UserID,
		Stream:          decision.Stream,
		ExpectedVersion: head.version,
		CommandID:       header.CommandID,
		Metadata:        header.metadata(),
		Events:          decision.Events,
		EventIDs:        run.newEventIDs(len(decision.Events)),
		// Handle looked up a caller's command id before this attempt, and a
		// generated one is new; a racing duplicate still fails on the key.
		SkipDuplicateLookup: true,
	})
	if err != nil {
		return Result{}, err
	}
	return appendedResult(appended, decision.Events), nil
}

// decide loads the state cmd needs and runs its decision function. Ids are
// allocated inside the decision, after the state was read, so within one
// stream a later event never carries a lower id than an earlier one.
func (h *Handler) decide(ctx context.Context, tx events.DBTX, cmd Command, header Header) (Decision, streamHead, error) {
	allocate := allocator(ctx, tx)
	switch c := cmd.(type) {
	case AddTask:
		decision, err := DecideAddTask(c, allocate)
		return decision, streamHead{}, err
	case UpdateTask:
		return h.decideTask(ctx, tx, header, c.TaskID, func(s TaskState) (Decision, error) { return DecideUpdateTask(s, c) })
	case CompleteTask:
		return h.decideTask(ctx, tx, header, c.TaskID, func(s TaskState) (Decision, error) { return DecideCompleteTask(s, c) })
	case ReopenTask:
		return h.decideTask(ctx, tx, header, c.TaskID, func(s TaskState) (Decision, error) { return DecideReopenTask(s, c) })
	case DeleteTask:
		return h.decideTask(ctx, tx, header, c.TaskID, func(s TaskState) (Decision, error) { return DecideDeleteTask(s, c) })
	case StartConversation:
		decision, err := DecideStartConversation(c, allocate)
		return decision, streamHead{}, err
	case AppendMessage:
		if c.ConversationID == 0 {
			decision, err := DecideAppendMessage(ConversationState{}, c, allocate)
			return decision, streamHead{}, err
		}
		state, err := loadConversation(ctx, tx, header.UserID, c.ConversationID)
		if err != nil {
			return Decision{}, streamHead{}, err
		}
		head := streamHead{version: state.Version, cursor: state.Head}
		if err := checkExpected(header, events.ConversationStream(c.ConversationID), head); err != nil {
			return Decision{}, streamHead{}, err
		}
		decision, err := DecideAppendMessage(state, c, allocate)
		return decision, head, err
	default:
		// dereference lets only this package's types through.
		return Decision{}, streamHead{}, fmt.Errorf("no decision for %T", cmd)
	}
}

// decideTask loads task id of the header's user and runs decide on it.
func (h *Handler) decideTask(ctx context.Context, tx events.DBTX, header Header, id int64,
	decide func(TaskState) (Decision, error)) (Decision, streamHead, error) {
	state, err := loadTask(ctx, tx, header.UserID, id)
	if err != nil {
		return Decision{}, streamHead{}, err
	}
	head := streamHead{version: state.Version, cursor: state.Head}
	if err := checkExpected(header, events.TaskStream(id), head); err != nil {
		return Decision{}, streamHead{}, err
	}
	decision, err := decide(state)
	return decision, head, err
}

// checkExpected fails with ErrConflict when the caller expected another
// version of an existing stream. It runs before the decision, so a stale
// caller learns of the conflict even when the command would change nothing.
// A stream that does not exist is left to the decision, which reports
// ErrNotFound.
func checkExpected(header Header, stream events.Stream, head streamHead) error {
	if header.ExpectedVersion == nil || head.version == 0 || *header.ExpectedVersion == head.version {
		return nil
	}
	return &events.ConflictError{
		UserID:   header.UserID,
		Stream:   stream,
		Expected: *header.ExpectedVersion,
		Actual:   head.version,
	}
}

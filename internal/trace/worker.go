package trace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/todolog/todolog/commands"
)

// worker replays the lines of the users assigned to it, in trace order.
type worker struct {
	cfg   Config
	count *counters
	start time.Time
	first time.Time
	// users holds each user's map from trace keys to todolog ids.
	users     map[string]*userState
	lastToken Token
}

// userState maps one user's trace keys to the ids todolog returned.
type userState struct {
	conversations map[string]int64
	tasks         map[string]*taskRef
}

func (w *worker) run(ctx context.Context, lines []Line) error {
	for _, l := range lines {
		if err := pace(ctx, w.start, w.first, w.cfg.Speed, l); err != nil {
			return fmt.Errorf("line %d (seq %d): waiting for its time: %w", l.Number, l.Seq, err)
		}
		if err := w.replayLine(ctx, l); err != nil {
			return err
		}
		w.count.lines.Add(1)
		if w.cfg.OnLine != nil {
			w.cfg.OnLine()
		}
	}
	return nil
}

// replayLine appends l's message, starting its conversation on the
// conversation key's first line, then applies its tool calls in order.
func (w *worker) replayLine(ctx context.Context, l Line) error {
	state := w.users[l.User]
	if state == nil {
		state = &userState{conversations: map[string]int64{}, tasks: map[string]*taskRef{}}
		w.users[l.User] = state
	}
	userID := w.cfg.UserPrefix + l.User
	messageID := MessageCommandID(w.cfg.RunID, l.Seq)
	header := commands.Header{
		UserID:        userID,
		CommandID:     messageID,
		CorrelationID: w.cfg.RunID + ":" + l.Conversation,
		Actor:         w.cfg.Actor,
	}

	conversationID := state.conversations[l.Conversation]
	result, err := w.send(ctx, l, -1, commands.AppendMessage{
		Header: header, ConversationID: conversationID, Role: l.Role, Content: l.Content,
	})
	if err != nil {
		return fmt.Errorf("line %d (seq %d, user %s, conversation %s), the %s message: %w",
			l.Number, l.Seq, l.User, l.Conversation, l.Role, err)
	}
	if conversationID == 0 {
		if result.ConversationID == 0 {
			return fmt.Errorf("line %d (seq %d, user %s): the reply to AppendMessage carries no conversation id for %s",
				l.Number, l.Seq, l.User, l.Conversation)
		}
		state.conversations[l.Conversation] = result.ConversationID
	}

	// Tool calls are caused by the assistant message they came with.
	header.CausationID = messageID
	for i, call := range l.ToolCalls {
		header.CommandID = ToolCallCommandID(w.cfg.RunID, l.Seq, i)
		if err := w.applyToolCall(ctx, l, i, call, header, state); err != nil {
			return fmt.Errorf("line %d (seq %d, user %s), tool_calls[%d] %s %s: %w",
				l.Number, l.Seq, l.User, i, call.Name, call.Arguments.Task, err)
		}
	}
	return nil
}

// applyToolCall sends the command of one tool call and updates the user's
// task map.
//
// Every command on an existing task expects the stream version the
// previous command of the trace left, which makes a rerun safe around
// calls that change nothing. todolog does not record such a call, so a
// rerun decides it again, against the task as later lines left it, where
// it could change the task back or fail because the task was deleted.
// With the expected version it fails with a conflict instead, and a call
// that the trace shows changes nothing is then skipped.
func (w *worker) applyToolCall(ctx context.Context, l Line, index int, call ToolCall, header commands.Header, state *userState) error {
	args := call.Arguments
	if call.Name == ToolAddTask {
		description := ""
		if args.Description != nil {
			description = *args.Description
		}
		result, err := w.send(ctx, l, index, commands.AddTask{Header: header, Title: *args.Title, Description: description})
		if err != nil {
			return err
		}
		if result.TaskID == 0 {
			return fmt.Errorf("the reply to AddTask carries no task id")
		}
		state.tasks[args.Task] = newTaskRef(result, *args.Title, description)
		return nil
	}

	// Read checked that the key names a live task of this user, and all of
	// a user's lines go to one worker, so the task is known unless the
	// trace was built without Read.
	task, ok := state.tasks[args.Task]
	if !ok {
		return fmt.Errorf("task %s has no todolog id: its add_task was not replayed", args.Task)
	}
	version := task.version
	header.ExpectedVersion = &version
	var cmd commands.Command
	switch call.Name {
	case ToolUpdateTask:
		cmd = commands.UpdateTask{Header: header, TaskID: task.id, Title: args.Title, Description: args.Description}
	case ToolCompleteTask:
		cmd = commands.CompleteTask{Header: header, TaskID: task.id}
	case ToolReopenTask:
		cmd = commands.ReopenTask{Header: header, TaskID: task.id}
	case ToolDeleteTask:
		cmd = commands.DeleteTask{Header: header, TaskID: task.id}
	default:
		return fmt.Errorf("unknown tool %q", call.Name)
	}

	unchanged := !task.changedBy(call)
	result, err := w.send(ctx, l, index, cmd)
	switch {
	case err != nil && unchanged && errors.Is(err, commands.ErrConflict):
		w.skipped(l, index, cmd, err)
		return nil
	case errors.Is(err, commands.ErrConflict):
		return fmt.Errorf("%w; the task changed outside this replay, or the trace was replayed before with other lines under this run id", err)
	case err != nil:
		return err
	}
	task.apply(call, result)
	if call.Name == ToolDeleteTask {
		delete(state.tasks, args.Task)
	}
	return nil
}

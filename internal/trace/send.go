package trace

import (
	"context"
	"errors"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
)

// Delays between the attempts of a command that failed with a transient
// error: doubling from the first to the last.
const (
	firstRetryDelay = 100 * time.Millisecond
	maxRetryDelay   = 2 * time.Second
)

// send handles cmd, retrying transient failures with the same idempotency
// key, and counts the outcome. index is the tool call's index in l, or -1
// for the message.
func (w *worker) send(ctx context.Context, l Line, index int, cmd commands.Command) (commands.Result, error) {
	delay := firstRetryDelay
	for attempt := 1; ; attempt++ {
		result, err := w.cfg.Dispatcher.Handle(ctx, cmd)
		if err == nil {
			w.counted(l, index, cmd, result)
			return result, nil
		}
		if attempt >= w.cfg.MaxAttempts || ctx.Err() != nil || !transient(err) {
			return commands.Result{}, err
		}
		w.cfg.Logger.WarnContext(ctx, "retrying a command after a transient error", "line", l.Number, "seq", l.Seq,
			"tool_call", index, "command", cmd.CommandName(), "command_id", cmd.CommandHeader().CommandID,
			"attempt", attempt, "delay", delay, "error", err)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return commands.Result{}, err
		case <-timer.C:
		}
		delay = min(delay*2, maxRetryDelay)
	}
}

func (w *worker) counted(l Line, index int, cmd commands.Command, result commands.Result) {
	w.count.commands.Add(1)
	w.lastToken = Token{UserID: cmd.CommandHeader().UserID, Token: result.Token}
	switch {
	case result.Duplicate:
		w.count.duplicates.Add(1)
	case !result.Changed:
		w.count.unchanged.Add(1)
		w.cfg.Logger.Debug("a command of the trace changed nothing", "line", l.Number, "seq", l.Seq, "tool_call", index,
			"command", cmd.CommandName(), "user_id", cmd.CommandHeader().UserID, "note", result.Note)
	}
}

// skipped counts a call that changes nothing and met a later version of
// its task: a rerun reached a call the first run did not record.
func (w *worker) skipped(l Line, index int, cmd commands.Command, err error) {
	w.count.commands.Add(1)
	w.count.unchanged.Add(1)
	w.cfg.Logger.Debug("skipped a call that changes nothing because later lines changed its task", "line", l.Number,
		"seq", l.Seq, "tool_call", index, "command", cmd.CommandName(), "user_id", cmd.CommandHeader().UserID, "error", err)
}

// transient reports whether err means the service or its database could
// not be reached for now, so the same command may succeed when sent again.
// A timeout is not transient here: over Watermill it usually means no
// processor is running, and waiting again would only delay the error.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, commands.ErrUnavailable) || database.IsTransient(err)
}

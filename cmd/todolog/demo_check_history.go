package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/todolog/todolog/projections"
	"github.com/todolog/todolog/replay"
)

// checkHashChains verifies the hash chain of every user in the database.
func checkHashChains(ctx context.Context, db *sql.DB) demoCheck {
	const name = "hash chains verify"
	var users, verified, broken int64
	var firstBreak error
	err := replay.Users(ctx, db, func(user string) error {
		users++
		head, err := replay.Verify(ctx, db, user)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			broken++
			if firstBreak == nil {
				firstBreak = err
			}
			return nil
		}
		verified += head.Events
		return nil
	})
	switch {
	case err != nil:
		return failed("%s: %v", name, err)
	case broken > 0:
		return failed("%s: %d of %d users' chains are broken; the first: %v", name, broken, users, firstBreak)
	}
	return passed("%s for all %s users (%s events)", name, formatCount(users), formatCount(verified))
}

// checkSampleUser replays userID's events with replay.StateAt and compares
// the state at the end with that user's rows in the read tables, field by
// field: tasks, conversations and every message in order.
func checkSampleUser(ctx context.Context, db *sql.DB, userID string) demoCheck {
	name := fmt.Sprintf("history of user %s replays to its read-table rows", userID)
	state, err := replay.StateAt(ctx, db, userID, replay.Point{})
	if err != nil {
		return failed("%s: %v", name, err)
	}
	tasks, err := projections.ListTasks(ctx, db, userID, projections.StatusAll)
	if err != nil {
		return failed("%s: %v", name, err)
	}
	if problem := compareTasks(state.Tasks, tasks); problem != "" {
		return failed("%s: %s", name, problem)
	}

	conversations, err := projections.ListConversations(ctx, db, userID, 0)
	if err != nil {
		return failed("%s: %v", name, err)
	}
	slices.SortFunc(conversations, func(a, b projections.Conversation) int { return cmp.Compare(a.ID, b.ID) })
	if len(conversations) != len(state.Conversations) {
		return failed("%s: the read table has %d conversations, the replay %d", name, len(conversations), len(state.Conversations))
	}
	messages := 0
	for i, replayed := range state.Conversations {
		row := conversations[i]
		if problem := compareConversation(replayed, row); problem != "" {
			return failed("%s: %s", name, problem)
		}
		rows, err := projections.ListMessages(ctx, db, userID, row.ID, projections.MessagePage{})
		if err != nil {
			return failed("%s: %v", name, err)
		}
		if problem := compareMessages(row.ID, replayed.Messages, rows); problem != "" {
			return failed("%s: %s", name, problem)
		}
		messages += len(rows)
	}
	return passed("%s: %s tasks, %s conversations, %s messages", name,
		formatCount(len(tasks)), formatCount(len(conversations)), formatCount(messages))
}

func compareTasks(replayed []replay.Task, rows []projections.Task) string {
	if len(rows) != len(replayed) {
		return fmt.Sprintf("the read table has %d tasks, the replay %d", len(rows), len(replayed))
	}
	for i, want := range replayed {
		got := rows[i]
		for _, field := range []struct {
			name     string
			row, log any
		}{
			{"id", got.ID, want.ID},
			{"title", got.Title, want.Title},
			{"description", got.Description, want.Description},
			{"completed", got.Completed, want.Completed},
		} {
			if field.row != field.log {
				return fmt.Sprintf("task %d: %s is %#v in the read table but %#v in the replay", want.ID, field.name, field.row, field.log)
			}
		}
		if problem := compareTimes(fmt.Sprintf("task %d", want.ID), got.CreatedAt, want.CreatedAt, got.UpdatedAt, want.UpdatedAt); problem != "" {
			return problem
		}
	}
	return ""
}

func compareConversation(replayed replay.Conversation, row projections.Conversation) string {
	if row.ID != replayed.ID {
		return fmt.Sprintf("conversation %d of the read table is conversation %d in the replay", row.ID, replayed.ID)
	}
	return compareTimes(fmt.Sprintf("conversation %d", row.ID), row.CreatedAt, replayed.CreatedAt, row.UpdatedAt, replayed.UpdatedAt)
}

func compareMessages(conversationID int64, replayed []replay.Message, rows []projections.Message) string {
	if len(rows) != len(replayed) {
		return fmt.Sprintf("conversation %d has %d messages in the read table, %d in the replay", conversationID, len(rows), len(replayed))
	}
	for i, want := range replayed {
		got := rows[i]
		switch {
		case got.ID != want.ID:
			return fmt.Sprintf("conversation %d, message %d: id %d in the read table, %d in the replay", conversationID, i+1, got.ID, want.ID)
		case got.Role != want.Role:
			return fmt.Sprintf("message %d: role %q in the read table, %q in the replay", want.ID, got.Role, want.Role)
		case got.Content != want.Content:
			return fmt.Sprintf("message %d: the content differs between the read table and the replay", want.ID)
		case !got.CreatedAt.Equal(want.CreatedAt):
			return fmt.Sprintf("message %d: created_at %s in the read table, %s in the replay", want.ID,
				got.CreatedAt.Format(time.RFC3339Nano), want.CreatedAt.Format(time.RFC3339Nano))
		}
	}
	return ""
}

// compareTimes compares the created_at and updated_at of one row with the
// replay's.
func compareTimes(what string, rowCreated, logCreated, rowUpdated, logUpdated time.Time) string {
	if !rowCreated.Equal(logCreated) {
		return fmt.Sprintf("%s: created_at %s in the read table, %s in the replay", what,
			rowCreated.Format(time.RFC3339Nano), logCreated.Format(time.RFC3339Nano))
	}
	if !rowUpdated.Equal(logUpdated) {
		return fmt.Sprintf("%s: updated_at %s in the read table, %s in the replay", what,
			rowUpdated.Format(time.RFC3339Nano), logUpdated.Format(time.RFC3339Nano))
	}
	return ""
}

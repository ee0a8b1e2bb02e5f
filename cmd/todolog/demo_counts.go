package main

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/todolog/todolog/events"
)

// demoCounts are the totals the demo summary shows, for one run's users or
// for the whole database.
type demoCounts struct {
	users, events                           int64
	openTasks, completedTasks, deletedTasks int64
	conversations, messages                 int64
}

// readDemoCounts counts the log and the read tables for the users whose id
// starts with prefix; the empty prefix counts every user. It reads across
// users, as the operator.
func readDemoCounts(ctx context.Context, db *sql.DB, prefix string) (demoCounts, error) {
	var c demoCounts
	queries := []struct {
		query string
		into  []any
	}{
		{`SELECT count(*) FROM event_user_heads WHERE starts_with(user_id, $1)`, []any{&c.users}},
		{`SELECT count(*), count(*) FILTER (WHERE event_type = 'TaskDeleted') FROM events WHERE starts_with(user_id, $1)`,
			[]any{&c.events, &c.deletedTasks}},
		{`SELECT count(*) FILTER (WHERE NOT completed), count(*) FILTER (WHERE completed) FROM tasks WHERE starts_with(user_id, $1)`,
			[]any{&c.openTasks, &c.completedTasks}},
		{`SELECT count(*) FROM conversations WHERE starts_with(user_id, $1)`, []any{&c.conversations}},
		{`SELECT count(*) FROM messages WHERE starts_with(user_id, $1)`, []any{&c.messages}},
	}
	err := events.AsOperator(ctx, db, func(tx events.DBTX) error {
		for _, q := range queries {
			if err := tx.QueryRowContext(ctx, q.query, prefix).Scan(q.into...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return demoCounts{}, fmt.Errorf("counting for the demo summary: %w", err)
	}
	return c, nil
}

// countRow is one labelled line of the summary's table.
type countRow struct {
	label string
	value int64
}

// rows returns the counts as table rows, in display order.
func (c demoCounts) rows() []countRow {
	return []countRow{
		{"users", c.users},
		{"events", c.events},
		{"tasks open", c.openTasks},
		{"tasks completed", c.completedTasks},
		{"tasks deleted", c.deletedTasks},
		{"conversations", c.conversations},
		{"messages", c.messages},
	}
}

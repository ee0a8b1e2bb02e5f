package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// setBasedTables are scratch copies of the read tables that the set-based
// baseline fills, each with the live table's columns, keys and indexes.
var setBasedTables = []struct{ scratch, live string }{
	{"bench_tasks", "tasks"},
	{"bench_conversations", "conversations"},
	{"bench_messages", "messages"},
}

// setBasedBuild computes the three read tables from the whole log with one
// INSERT ... SELECT each, as the projections would after applying every
// event. A task's row takes the latest title and description given, the
// latest completion or reopening, and the latest event's time, version and
// position. Deleted tasks are left out.
var setBasedBuild = []string{
	`WITH task_events AS (
	    SELECT user_id, stream_id, stream_version, event_type, payload, occurred_at, position,
	           max(stream_version) OVER stream AS last_version
	      FROM events WHERE stream_type = 'task'
	    WINDOW stream AS (PARTITION BY user_id, stream_id)
	)
	INSERT INTO bench_tasks (id, user_id, title, description, completed, created_at, updated_at, stream_version, last_position)
	SELECT stream_id, user_id,
	       (array_agg(payload ->> 'title' ORDER BY stream_version DESC) FILTER (WHERE payload ? 'title'))[1],
	       coalesce((array_agg(payload ->> 'description' ORDER BY stream_version DESC) FILTER (WHERE payload ? 'description'))[1], ''),
	       coalesce((array_agg(event_type = 'TaskCompleted' ORDER BY stream_version DESC)
	                 FILTER (WHERE event_type IN ('TaskCompleted', 'TaskReopened')))[1], false),
	       min(occurred_at) FILTER (WHERE event_type = 'TaskAdded'),
	       max(occurred_at) FILTER (WHERE stream_version = last_version),
	       max(stream_version),
	       max(position) FILTER (WHERE stream_version = last_version)
	  FROM task_events
	 GROUP BY user_id, stream_id
	HAVING count(*) FILTER (WHERE event_type = 'TaskDeleted') = 0`,
	`INSERT INTO bench_conversations (id, user_id, created_at, updated_at, stream_version, last_position)
	SELECT DISTINCT ON (user_id, stream_id) stream_id, user_id,
	       min(occurred_at) OVER stream, occurred_at, stream_version, position
	  FROM events WHERE stream_type = 'conversation'
	WINDOW stream AS (PARTITION BY user_id, stream_id)
	 ORDER BY user_id, stream_id, stream_version DESC`,
	`INSERT INTO bench_messages (id, user_id, conversation_id, role, content, created_at, stream_version, position)
	SELECT (payload ->> 'message_id')::bigint, user_id, stream_id, payload ->> 'role', payload ->> 'content',
	       occurred_at, stream_version, position
	  FROM events WHERE event_type = 'MessageAppended'`,
}

// BuildSetBased creates empty scratch copies of the read tables (dropping
// earlier ones), fills them from the log with set-based SQL, and returns
// how long the inserts took.
func BuildSetBased(ctx context.Context, db *sql.DB) (time.Duration, error) {
	statements := []string{`DROP TABLE IF EXISTS bench_messages, bench_conversations, bench_tasks`}
	for _, table := range setBasedTables {
		statements = append(statements, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING ALL)`, table.scratch, table.live))
	}
	statements = append(statements, `ALTER TABLE bench_messages ADD FOREIGN KEY (user_id, conversation_id)
		REFERENCES bench_conversations (user_id, id)`)
	for _, statement := range statements {
		if _, err := db.ExecContext(ctx, statement); err != nil {
			return 0, fmt.Errorf("creating the set-based baseline's tables: %s: %w", statement, err)
		}
	}
	start := time.Now()
	for _, statement := range setBasedBuild {
		if _, err := db.ExecContext(ctx, statement); err != nil {
			return 0, fmt.Errorf("building the set-based baseline: %w", err)
		}
	}
	return time.Since(start), nil
}

// CompareWithSetBased returns an error naming every read table whose rows
// differ from the set-based baseline's.
func CompareWithSetBased(ctx context.Context, db *sql.DB) error {
	for _, table := range setBasedTables {
		var differing int64
		err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM (
			    (TABLE %[1]s EXCEPT ALL TABLE %[2]s) UNION ALL (TABLE %[2]s EXCEPT ALL TABLE %[1]s)) d`,
			table.live, table.scratch)).Scan(&differing)
		if err != nil {
			return fmt.Errorf("comparing %s with the set-based baseline: %w", table.live, err)
		}
		if differing != 0 {
			return fmt.Errorf("%d rows differ between %s and the set-based baseline %s", differing, table.live, table.scratch)
		}
	}
	return nil
}

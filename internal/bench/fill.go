package bench

import (
	"context"
	"database/sql"
	"fmt"
)

// Fill describes a generated log. Each user has one conversation and
// repeats a cycle of five events: three messages, a new task, and that
// task's completion. The first event of every user starts the
// conversation. Events of different users interleave round by round, as
// in a live log, so consecutive events mix users and types.
type Fill struct {
	// Users is how many users the events are spread over.
	Users int
	// Events is how many events are inserted in all.
	Events int
	// UserPrefix starts the user ids, which end in the user's number.
	UserPrefix string
	// FirstID is added to every generated task, conversation and message
	// id, so fills with different values never collide.
	FirstID int64
}

// fillRoundsPerStatement bounds the rounds one INSERT covers, so that no
// statement holds many versions of the same users' chain-head rows.
const fillRoundsPerStatement = 20

// fillQuery inserts rounds $1 to $2 of a fill over $3 users, stopping at
// $4 events, with user prefix $5 and id offset $6. Round k of user u is
// global slot k*users+u. For k >= 1, j = k-1 picks the cycle j/5 and the
// step j%5: steps 0 to 2 are messages, 3 adds a task, 4 completes it.
// The insert trigger assigns positions, transaction ids, sequences and
// hashes.
const fillQuery = `
	INSERT INTO events (event_id, user_id, stream_type, stream_id, stream_version, event_type, schema_version,
	                    payload, metadata, command_id, occurred_at)
	SELECT gen_random_uuid(), $5 || lpad(u::text, 5, '0'),
	       CASE WHEN k = 0 OR (k - 1) % 5 < 3 THEN 'conversation' ELSE 'task' END,
	       CASE WHEN k = 0 OR (k - 1) % 5 < 3 THEN $6 + u + 1 ELSE $6 + (k - 1) / 5 * $3 + u + 1 END,
	       CASE WHEN k = 0 THEN 1
	            WHEN (k - 1) % 5 < 3 THEN (k - 1) / 5 * 3 + (k - 1) % 5 + 2
	            WHEN (k - 1) % 5 = 3 THEN 1
	            ELSE 2 END,
	       CASE WHEN k = 0 THEN 'ConversationStarted'
	            WHEN (k - 1) % 5 < 3 THEN 'MessageAppended'
	            WHEN (k - 1) % 5 = 3 THEN 'TaskAdded'
	            ELSE 'TaskCompleted' END,
	       1,
	       CASE WHEN k = 0 THEN jsonb_build_object('conversation_id', $6 + u + 1)
	            WHEN (k - 1) % 5 < 3 THEN jsonb_build_object('conversation_id', $6 + u + 1,
	                'message_id', $6 + ((k - 1) / 5 * 3 + (k - 1) % 5) * $3 + u + 1,
	                'role', CASE WHEN (k - 1) % 5 = 1 THEN 'assistant' ELSE 'user' END,
	                'content', 'message ' || k || ': add oat milk and bread to my list, and what is left for today?')
	            WHEN (k - 1) % 5 = 3 THEN jsonb_build_object('task_id', $6 + (k - 1) / 5 * $3 + u + 1,
	                'title', 'buy oat milk #' || k, 'description', '')
	            ELSE jsonb_build_object('task_id', $6 + (k - 1) / 5 * $3 + u + 1) END,
	       jsonb_build_object('actor', 'bench'), 'bench-fill-' || u || '-' || k,
	       timestamptz '2026-01-01 00:00:00+00' + (k * $3 + u) * interval '10 milliseconds'
	  FROM generate_series($1::bigint, $2::bigint) AS k, generate_series(0, $3::bigint - 1) AS u
	 WHERE k * $3 + u < $4
	 ORDER BY k, u`

// Run inserts the events with set-based statements through the log's
// insert trigger. Afterwards it analyzes the log and moves the id
// sequences past the generated ids, so commands can run on the database.
func (f Fill) Run(ctx context.Context, db *sql.DB) error {
	if f.Users < 1 || f.Events < 0 {
		return fmt.Errorf("a fill needs at least one user and no negative event count, got %d users and %d events", f.Users, f.Events)
	}
	rounds := (f.Events + f.Users - 1) / f.Users
	for from := 0; from < rounds; from += fillRoundsPerStatement {
		to := min(from+fillRoundsPerStatement, rounds) - 1
		if _, err := db.ExecContext(ctx, fillQuery, from, to, f.Users, f.Events, f.UserPrefix, f.FirstID); err != nil {
			return fmt.Errorf("filling rounds %d to %d of the log: %w", from, to, err)
		}
	}
	for _, statement := range []string{
		`ANALYZE events`,
		`SELECT setval('task_id_seq', greatest((SELECT max(stream_id) FROM events WHERE stream_type = 'task'), 1))`,
		`SELECT setval('conversation_id_seq', greatest((SELECT max(stream_id) FROM events WHERE stream_type = 'conversation'), 1))`,
		`SELECT setval('message_id_seq', greatest((SELECT max((payload ->> 'message_id')::bigint) FROM events
		   WHERE event_type = 'MessageAppended'), 1))`,
	} {
		if _, err := db.ExecContext(ctx, statement); err != nil {
			return fmt.Errorf("after filling the log: %s: %w", statement, err)
		}
	}
	return nil
}

// NextID returns an id above every task, conversation and message id of
// the database, for a Fill's FirstID.
func NextID(ctx context.Context, db *sql.DB) (int64, error) {
	var next int64
	err := db.QueryRowContext(ctx, `SELECT greatest(
		    (SELECT last_value FROM task_id_seq), (SELECT last_value FROM conversation_id_seq),
		    (SELECT last_value FROM message_id_seq)) + 1`).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("reading the id sequences: %w", err)
	}
	return next, nil
}

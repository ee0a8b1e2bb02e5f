package projections_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/projections"
)

// benchEnvInt returns the positive integer in the environment variable
// name, or fallback when it is unset. It fails b on any other value.
func benchEnvInt(b *testing.B, name string, fallback int) int {
	b.Helper()
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	n, err := strconv.Atoi(strings.ReplaceAll(value, "_", ""))
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q must be a positive integer", name, value)
	}
	return n
}

// benchLogger returns an Info-level logger writing to b's log, the level a
// deployed projector runs at, so per-event Debug records cost only the
// level check.
func benchLogger(b *testing.B) *slog.Logger {
	return slog.New(slog.NewTextHandler(benchLogWriter{b}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type benchLogWriter struct{ b *testing.B }

func (w benchLogWriter) Write(p []byte) (int, error) {
	w.b.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// fillStep is one event of the block of events that the generated log
// repeats for every user.
type fillStep struct {
	eventType string
	// taskSlot numbers the block's tasks from 0, for task events.
	taskSlot int
	// role is the MessageAppended role.
	role string
}

// fillBlock is one user's conversation in the generated log: it starts a
// conversation, then interleaves 12 messages with 7 task events on the
// block's 3 tasks (added, renamed, completed), so 60% of the events are
// messages and 35% task events.
var fillBlock = []fillStep{
	{eventType: events.TypeConversationStarted},
	{eventType: events.TypeMessageAppended, role: "user"},
	{eventType: events.TypeTaskAdded, taskSlot: 0},
	{eventType: events.TypeMessageAppended, role: "assistant"},
	{eventType: events.TypeMessageAppended, role: "user"},
	{eventType: events.TypeTaskAdded, taskSlot: 1},
	{eventType: events.TypeMessageAppended, role: "assistant"},
	{eventType: events.TypeMessageAppended, role: "user"},
	{eventType: events.TypeTaskUpdated, taskSlot: 0},
	{eventType: events.TypeMessageAppended, role: "assistant"},
	{eventType: events.TypeMessageAppended, role: "user"},
	{eventType: events.TypeTaskCompleted, taskSlot: 0},
	{eventType: events.TypeMessageAppended, role: "assistant"},
	{eventType: events.TypeMessageAppended, role: "user"},
	{eventType: events.TypeTaskAdded, taskSlot: 2},
	{eventType: events.TypeTaskUpdated, taskSlot: 1},
	{eventType: events.TypeMessageAppended, role: "assistant"},
	{eventType: events.TypeMessageAppended, role: "user"},
	{eventType: events.TypeTaskCompleted, taskSlot: 2},
	{eventType: events.TypeMessageAppended, role: "assistant"},
}

// fillTasksPerBlock is the number of task slots fillBlock uses.
const fillTasksPerBlock = 3

// fillBlockValues returns fillBlock as the rows of a SQL VALUES list:
// (step, event_type, stream_type, task_slot, stream_version, role). Stream
// versions count from 1 within the block, because every block starts a new
// conversation and new tasks.
func fillBlockValues() string {
	conversationVersion := 0
	taskVersions := make([]int, fillTasksPerBlock)
	rows := make([]string, 0, len(fillBlock))
	for i, s := range fillBlock {
		streamType, version := events.StreamConversation, 0
		if s.eventType == events.TypeConversationStarted || s.eventType == events.TypeMessageAppended {
			conversationVersion++
			version = conversationVersion
		} else {
			streamType = events.StreamTask
			taskVersions[s.taskSlot]++
			version = taskVersions[s.taskSlot]
		}
		rows = append(rows, fmt.Sprintf("(%d, '%s', '%s', %d, %d, '%s')",
			i, s.eventType, streamType, s.taskSlot, version, s.role))
	}
	return strings.Join(rows, ",\n")
}

// fillStagger is how many rounds apart users start: user u writes its
// first event in round u mod fillStagger. Within one round the users are
// then at different steps of fillBlock, so consecutive events of the log
// mix all event types, as in a live log, instead of every user writing
// the same step at once.
const fillStagger = 20

// fillQuery inserts the generated events in the slots $1, $1+$4, ... up to
// $2 of a log over $3 users, through the log's insert trigger, which assigns
// positions, transaction ids, sequences and hashes. Slot s is round s / $3
// of user s mod $3. Rounds before the user's start (see fillStagger) are
// empty, and from its start the user takes one step of fillBlock per round.
// Ids are unique across users: block b of user u has conversation b*$3+u+1
// and tasks 3*(b*$3+u)+1 to +3, and the message in slot s has id s+1, which
// grows with the message's place in its conversation as commands' ids do.
// The stream versions come from fillBlock, so the trigger only checks each
// event's predecessor instead of looking up the stream's version.
var fillQuery = `WITH step (step, event_type, stream_type, task_slot, stream_version, role) AS (
	    VALUES ` + fillBlockValues() + `
	), slot AS (
	    SELECT s, s % $3 AS u, s / $3 - s % $3 % ` + strconv.Itoa(fillStagger) + ` AS local
	      FROM generate_series($1::bigint, $2::bigint, $4::bigint) AS s
	), event AS (
	    SELECT slot.s, slot.u, step.event_type, step.stream_type, step.stream_version, step.role,
	           CASE step.stream_type
	               WHEN 'task' THEN (slot.local / ` + strconv.Itoa(len(fillBlock)) + ` * $3 + slot.u) * ` +
	strconv.Itoa(fillTasksPerBlock) + ` + step.task_slot + 1
	               ELSE slot.local / ` + strconv.Itoa(len(fillBlock)) + ` * $3 + slot.u + 1
	           END AS stream_id
	      FROM slot JOIN step ON step.step = slot.local % ` + strconv.Itoa(len(fillBlock)) + `
	     WHERE slot.local >= 0
	)
	INSERT INTO events (event_id, user_id, stream_type, stream_id, stream_version, event_type, schema_version,
	                    payload, metadata, command_id, command_index, occurred_at)
	SELECT md5('bench-event-' || s)::uuid, 'bench-user-' || lpad(u::text, 5, '0'), stream_type, stream_id,
	       stream_version, event_type, 1,
	       CASE event_type
	           WHEN 'ConversationStarted' THEN jsonb_build_object('conversation_id', stream_id)
	           WHEN 'MessageAppended' THEN jsonb_build_object('conversation_id', stream_id, 'message_id', s + 1,
	               'role', role, 'content', 'message ' || s || ': please add oat milk and bread to my list')
	           WHEN 'TaskAdded' THEN jsonb_build_object('task_id', stream_id, 'title', 'buy oat milk #' || stream_id,
	               'description', '')
	           WHEN 'TaskUpdated' THEN jsonb_build_object('task_id', stream_id,
	               'title', 'buy oat milk and bread #' || stream_id)
	           ELSE jsonb_build_object('task_id', stream_id)
	       END,
	       jsonb_build_object('command_id', 'bench-' || s, 'actor', 'bench'), 'bench-' || s, 0,
	       timestamptz '2026-01-01 00:00:00+00' + s * interval '10 milliseconds'
	  FROM event
	 ORDER BY s`

// fillSlots returns how many slots of fillQuery hold count events.
func fillSlots(count, users int) int {
	slots, filled := 0, 0
	for ; filled < count; slots++ {
		if slots/users >= slots%users%fillStagger {
			filled++
		}
	}
	return slots
}

// fillChunk is how many slots one fill statement covers. Every statement
// is its own transaction, because one transaction for the whole fill would
// pile up versions of the same event_user_heads rows that no one can prune
// until it ends, and each append would walk them.
const fillChunk = 10_000

// fillLog appends count generated events spread over users to the empty
// log of db and returns how long the inserts took. It runs two writers when
// users is even, each on its own half of the users, so they never wait for
// each other's chain-head locks. Afterwards it vacuums and analyzes the log
// (not timed), as autovacuum would in a live database, and moves the id
// sequences past the generated ids, so commands can run on the database.
func fillLog(b *testing.B, db *sql.DB, count, users int) time.Duration {
	b.Helper()
	ctx := context.Background()
	writers := 1
	if users%2 == 0 {
		writers = 2
	}
	slots := fillSlots(count, users)
	start := time.Now()
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			// Writer w takes slots w, w+writers, ..., which are exactly the
			// slots of the users u with u mod writers = w, because writers
			// divides users.
			for from := 0; from < slots; from += fillChunk {
				last := min(from+fillChunk, slots) - 1
				if _, err := db.ExecContext(ctx, fillQuery, from+w, last, users, writers); err != nil {
					errs <- fmt.Errorf("filling slots %d to %d: %w", from, last, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)

	var filled int
	if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&filled); err != nil {
		b.Fatal(err)
	}
	if filled != count {
		b.Fatalf("the log holds %d events after the fill, want %d", filled, count)
	}
	for _, statement := range []string{
		`VACUUM (ANALYZE) events`,
		`VACUUM (ANALYZE) event_user_heads`,
		`SELECT setval('task_id_seq', (SELECT max(stream_id) FROM events WHERE stream_type = 'task'))`,
		`SELECT setval('conversation_id_seq', (SELECT max(stream_id) FROM events WHERE stream_type = 'conversation'))`,
		`SELECT setval('message_id_seq', (SELECT max((payload ->> 'message_id')::bigint) FROM events
		   WHERE event_type = 'MessageAppended'))`,
	} {
		if _, err := db.ExecContext(ctx, statement); err != nil {
			b.Fatalf("%s: %v", statement, err)
		}
	}
	return elapsed
}

// logHead returns the last event of the log in the order projections read
// it.
func logHead(b *testing.B, db *sql.DB) events.Cursor {
	b.Helper()
	var head events.Cursor
	err := db.QueryRow(`SELECT transaction_id::text::bigint, position FROM events
		ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&head.TransactionID, &head.Position)
	if err != nil {
		b.Fatal(err)
	}
	return head
}

// waitForCheckpoints polls projection_checkpoints every 50 ms until every
// projection in names has its checkpoint at head, and returns how long
// after start each one got there. It polls the checkpoints rather than
// calling ReadLag, which counts every pending event and so would load the
// server during a long catch-up.
func waitForCheckpoints(b *testing.B, db *sql.DB, names []string, head events.Cursor, start time.Time, timeout time.Duration) map[string]time.Duration {
	b.Helper()
	reached := map[string]time.Duration{}
	deadline := time.Now().Add(timeout)
	for len(reached) < len(names) {
		rows, err := db.Query(`SELECT projection FROM projection_checkpoints
			WHERE (last_transaction_id, last_position) >= ($1::text::xid8, $2)`,
			strconv.FormatUint(head.TransactionID, 10), head.Position)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				b.Fatal(err)
			}
			if _, seen := reached[name]; !seen && slices.Contains(names, name) {
				reached[name] = time.Since(start)
			}
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if time.Now().After(deadline) {
			b.Fatalf("projections %v did not reach the head of the log within %s; reached: %v", names, timeout, reached)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return reached
}

// runProjectorUntil starts a Projector with cfg, waits until the
// projections it runs have applied the log up to head, stops it, and
// returns the projector's stats and how long after Run each projection
// reached head.
func runProjectorUntil(b *testing.B, db *sql.DB, cfg projections.Config, head events.Cursor, timeout time.Duration) ([]projections.Stats, map[string]time.Duration) {
	b.Helper()
	projector, err := projections.New(db, cfg)
	if err != nil {
		b.Fatal(err)
	}
	names := cfg.Projections
	if len(names) == 0 {
		names = projections.Names()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- projector.Run(ctx) }()
	reached := waitForCheckpoints(b, db, names, head, start, timeout)
	if err := projector.Close(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return projector.Stats(), reached
}

// resetReadTables empties the read tables and the checkpoints, so the next
// projector starts from the beginning of the log.
func resetReadTables(b *testing.B, db *sql.DB) {
	b.Helper()
	// VACUUM cannot share a multi-statement query's implicit transaction.
	for _, statement := range []string{
		`TRUNCATE tasks, messages, conversations, parked_events, projection_checkpoints`,
		`VACUUM (ANALYZE) tasks, messages, conversations, projection_checkpoints`,
	} {
		if _, err := db.Exec(statement); err != nil {
			b.Fatalf("%s: %v", statement, err)
		}
	}
}

// latencySummary returns the median and the 99th percentile of latencies
// in milliseconds. It sorts latencies.
func latencySummary(latencies []time.Duration) (median, p99 float64) {
	if len(latencies) == 0 {
		return 0, 0
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(latencies[len(latencies)/2]), ms(latencies[len(latencies)*99/100])
}

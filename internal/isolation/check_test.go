package isolation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
	"github.com/todolog/todolog/replay"
)

const serviceToken = "isolation-test-service-token"

// tenant is one user and the ids of the rows seeded for them.
type tenant struct {
	userID         string
	taskID         int64
	conversationID int64
	messageID      int64
	// commandID is the idempotency key of the AddTask that made taskID.
	commandID string
	// parked is the place of an event of the user's that the tasks
	// projection parked.
	parked events.Cursor
}

// world is a database holding rows of two users, a and b, reached as the
// owner (a superuser in tests) for set-up and as the application role for
// the checks.
type world struct {
	owner *sql.DB
	app   *sql.DB
	// appURL logs in as the application role.
	appURL string
	a, b   tenant
}

func newWorld(t *testing.T, databaseURL string) *world {
	t.Helper()
	w := &world{owner: pgtest.Open(t, databaseURL)}
	w.appURL = pgtest.AppURL(t, databaseURL)
	w.app = pgtest.Open(t, w.appURL)
	suffix := randomSuffix()
	w.a = seedTenant(t, w.owner, "iso-a-"+suffix)
	w.b = seedTenant(t, w.owner, "iso-b-"+suffix)
	project(t, w.owner)
	w.a.parked = parkLastEvent(t, w.owner, w.a.userID)
	w.b.parked = parkLastEvent(t, w.owner, w.b.userID)
	return w
}

// seedTenant writes a task, a conversation and two messages for userID
// through the command handler.
func seedTenant(t *testing.T, db *sql.DB, userID string) tenant {
	t.Helper()
	ctx := context.Background()
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: discardLogger()})
	require.NoError(t, err)
	user := tenant{userID: userID, commandID: "add-" + userID}

	added, err := handler.Handle(ctx, commands.AddTask{
		Header: commands.Header{UserID: userID, CommandID: user.commandID}, Title: "private task of " + userID,
	})
	require.NoError(t, err)
	user.taskID = added.TaskID

	first, err := handler.Handle(ctx, commands.AppendMessage{
		Header: commands.Header{UserID: userID}, Role: "user", Content: "a secret of " + userID,
	})
	require.NoError(t, err)
	user.conversationID = first.ConversationID
	second, err := handler.Handle(ctx, commands.AppendMessage{
		Header: commands.Header{UserID: userID}, ConversationID: user.conversationID, Role: "assistant", Content: "noted",
	})
	require.NoError(t, err)
	user.messageID = second.MessageID
	return user
}

// project applies the whole log to the read tables as the operator.
func project(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	tx, err := events.BeginOperator(ctx, db, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	for r, err := range events.ReadAll(ctx, tx, events.Cursor{}) {
		require.NoError(t, err)
		for _, name := range projections.Names() {
			require.NoError(t, projections.Apply(ctx, tx, name, r))
		}
	}
	require.NoError(t, tx.Commit())
}

// parkLastEvent records the user's last event as parked by the tasks
// projection, so parked_events holds a row of each user.
func parkLastEvent(t *testing.T, db *sql.DB, userID string) events.Cursor {
	t.Helper()
	var cursor events.Cursor
	require.NoError(t, db.QueryRow(`INSERT INTO parked_events
		    (projection, position, transaction_id, user_id, event_type, error, attempts)
		SELECT 'tasks', position, transaction_id, user_id, event_type, 'parked by the isolation test', 1
		  FROM events WHERE user_id = $1 ORDER BY user_sequence DESC LIMIT 1
		RETURNING transaction_id::text::bigint, position`, userID).Scan(&cursor.TransactionID, &cursor.Position))
	return cursor
}

// userScopedTables lists the tables of the schema that have a user_id
// column; with partitions set, the partitions of events too.
func userScopedTables(t *testing.T, db *sql.DB, partitions bool) []string {
	t.Helper()
	rows, err := db.Query(`SELECT c.relname FROM pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
		  AND ($1 OR NOT c.relispartition)
		ORDER BY c.relname`, partitions)
	require.NoError(t, err)
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	// The enumeration must find the tables it is meant to guard, or every
	// check over it passes by looking at nothing.
	require.Subset(t, tables, []string{"events", "event_user_heads", "tasks", "conversations", "messages", "parked_events"})
	return tables
}

// userRowsDigest returns, per user-scoped table, a digest of userID's rows
// as the owner sees them, to show that nothing changed them.
func userRowsDigest(t *testing.T, w *world, userID string) map[string]string {
	t.Helper()
	digest := map[string]string{}
	for _, table := range userScopedTables(t, w.owner, false) {
		var sum string
		require.NoError(t, w.owner.QueryRow(`SELECT count(*) || ':' || md5(coalesce(string_agg(to_jsonb(r)::text, '' ORDER BY to_jsonb(r)::text), ''))
			FROM `+pq.QuoteIdentifier(table)+` r WHERE user_id = $1`, userID).Scan(&sum))
		digest[table] = sum
	}
	return digest
}

// leaks runs every isolation check as the application role, acting for
// user a or for no user, and returns what each found of b's rows (or of
// a's, where no user was set). An empty list means isolation held.
func (w *world) leaks(t *testing.T) []string {
	t.Helper()
	before := userRowsDigest(t, w, w.b.userID)
	var found []string
	report := func(format string, args ...any) { found = append(found, fmt.Sprintf(format, args...)) }

	w.checkRawSQL(t, report)
	w.checkPoolOfOne(t, report)
	w.checkGoAPI(t, report)
	w.checkHTTP(t, report)

	after := userRowsDigest(t, w, w.b.userID)
	for table, sum := range before {
		if after[table] != sum {
			report("user %s's rows in %s changed: %s before, %s after", w.b.userID, table, sum, after[table])
		}
	}
	return found
}

// checkRawSQL queries and writes the tables directly, with no user set and
// with user a set.
func (w *world) checkRawSQL(t *testing.T, report func(string, ...any)) {
	t.Helper()
	ctx := context.Background()
	tables := userScopedTables(t, w.owner, false)

	for _, table := range tables {
		if n := countVisible(t, w.app, `SELECT count(*) FROM `+pq.QuoteIdentifier(table)); n > 0 {
			report("with no user set, %s shows %d rows", table, n)
		}
	}

	for _, table := range tables {
		tx, err := events.BeginUser(ctx, w.app, w.a.userID, nil)
		require.NoError(t, err)
		n := countVisible(t, tx, `SELECT count(*) FROM `+pq.QuoteIdentifier(table)+` WHERE user_id <> $1`, w.a.userID)
		require.NoError(t, tx.Rollback())
		if n > 0 {
			report("acting for user %s, %s shows %d rows of other users", w.a.userID, table, n)
		}
	}

	b := w.b
	byID := []struct{ table, query string }{
		{"tasks", `SELECT count(*) FROM tasks WHERE id = ` + strconv.FormatInt(b.taskID, 10)},
		{"conversations", `SELECT count(*) FROM conversations WHERE id = ` + strconv.FormatInt(b.conversationID, 10)},
		{"messages", `SELECT count(*) FROM messages WHERE id = ` + strconv.FormatInt(b.messageID, 10)},
		{"events", `SELECT count(*) FROM events WHERE stream_id IN (` + strconv.FormatInt(b.taskID, 10) + `, ` + strconv.FormatInt(b.conversationID, 10) + `)`},
	}
	for _, q := range byID {
		tx, err := events.BeginUser(ctx, w.app, w.a.userID, nil)
		require.NoError(t, err)
		n := countVisible(t, tx, q.query)
		require.NoError(t, tx.Rollback())
		if n > 0 {
			report("acting for user %s, %s by user %s's id shows %d rows", w.a.userID, q.table, b.userID, n)
		}
	}

	quotedB := pq.QuoteLiteral(b.userID)
	writes := []string{
		`UPDATE tasks SET title = 'changed by another user' WHERE id = ` + strconv.FormatInt(b.taskID, 10),
		`DELETE FROM messages WHERE id = ` + strconv.FormatInt(b.messageID, 10),
		`DELETE FROM conversations WHERE id = ` + strconv.FormatInt(b.conversationID, 10),
		`UPDATE event_user_heads SET last_sequence = last_sequence WHERE user_id = ` + quotedB,
		`DELETE FROM parked_events WHERE user_id = ` + quotedB,
		`INSERT INTO tasks (id, user_id, title, created_at, updated_at, stream_version, last_position)
		 VALUES (999999999, ` + quotedB + `, 'planted', now(), now(), 1, 1)`,
		`INSERT INTO events (event_id, user_id, stream_type, stream_id, event_type, schema_version, payload, command_id, occurred_at)
		 VALUES (gen_random_uuid(), ` + quotedB + `, 'task', 999999999, 'TaskAdded', 1,
		         '{"task_id": 999999999, "title": "planted"}', 'planted', now())`,
	}
	for _, statement := range writes {
		tx, err := events.BeginUser(ctx, w.app, w.a.userID, nil)
		require.NoError(t, err)
		result, err := tx.ExecContext(ctx, statement)
		if err == nil {
			if n, _ := result.RowsAffected(); n > 0 {
				report("acting for user %s, %q changed %d of user %s's rows", w.a.userID, statement, n, b.userID)
			}
		}
		require.NoError(t, tx.Rollback())
	}
}

// checkPoolOfOne sends a request for a, then one with no user, over a pool
// of one connection: the second must not inherit a's identity.
func (w *world) checkPoolOfOne(t *testing.T, report func(string, ...any)) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Open(t, w.appURL)
	pool.SetMaxOpenConns(1)

	tasks, err := projections.ListTasks(ctx, pool, w.a.userID, projections.StatusAll)
	require.NoError(t, err)
	// If a saw nothing of their own, the check below would prove nothing.
	require.NotEmpty(t, tasks, "user %s must see their own tasks", w.a.userID)
	for _, table := range []string{"tasks", "conversations", "messages", "events"} {
		if n := countVisible(t, pool, `SELECT count(*) FROM `+table); n > 0 {
			report("after a request for user %s on the same connection, a request with no user sees %d rows of %s",
				w.a.userID, n, table)
		}
	}

	// A transaction that failed after the switch must not leave it behind.
	tx, err := events.BeginUser(ctx, pool, w.a.userID, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `SELECT 1/0`)
	require.Error(t, err)
	require.NoError(t, tx.Rollback())
	if n := countVisible(t, pool, `SELECT count(*) FROM tasks`); n > 0 {
		report("after a failed transaction for user %s, a request with no user sees %d tasks", w.a.userID, n)
	}
}

// checkGoAPI calls the exported functions with a's user id and b's ids.
func (w *world) checkGoAPI(t *testing.T, report func(string, ...any)) {
	t.Helper()
	ctx := context.Background()
	a, b := w.a, w.b

	if task, err := projections.GetTask(ctx, w.app, a.userID, b.taskID); !errors.Is(err, projections.ErrNotFound) {
		report("projections.GetTask(%s, task %d of %s) = %+v, %v; want ErrNotFound", a.userID, b.taskID, b.userID, task, err)
	}
	if c, err := projections.GetConversation(ctx, w.app, a.userID, b.conversationID); !errors.Is(err, projections.ErrNotFound) {
		report("projections.GetConversation(%s, conversation %d of %s) = %+v, %v; want ErrNotFound", a.userID, b.conversationID, b.userID, c, err)
	}
	if m, err := projections.ListMessages(ctx, w.app, a.userID, b.conversationID, projections.MessagePage{}); !errors.Is(err, projections.ErrNotFound) {
		report("projections.ListMessages(%s, conversation %d of %s) = %d messages, %v; want ErrNotFound", a.userID, b.conversationID, b.userID, len(m), err)
	}
	tasks, err := projections.ListTasks(ctx, w.app, a.userID, projections.StatusAll)
	require.NoError(t, err)
	for _, task := range tasks {
		if task.UserID != a.userID {
			report("projections.ListTasks(%s) lists task %d of %s", a.userID, task.ID, task.UserID)
		}
	}
	conversations, err := projections.ListConversations(ctx, w.app, a.userID, 0)
	require.NoError(t, err)
	for _, c := range conversations {
		if c.UserID != a.userID {
			report("projections.ListConversations(%s) lists conversation %d of %s", a.userID, c.ID, c.UserID)
		}
	}

	for r, err := range events.ReadStream(ctx, w.app, a.userID, events.TaskStream(b.taskID), 0) {
		require.NoError(t, err)
		report("events.ReadStream(%s, task %d of %s) yields the event at %d", a.userID, b.taskID, b.userID, r.Position)
	}
	if head, err := events.ReadStreamHead(ctx, w.app, a.userID, events.ConversationStream(b.conversationID)); err != nil || head.Version != 0 {
		report("events.ReadStreamHead(%s, conversation %d of %s) = %+v, %v; want an empty stream", a.userID, b.conversationID, b.userID, head, err)
	}
	if _, found, err := events.ReadCommandResult(ctx, w.app, a.userID, b.commandID); found || err != nil {
		report("events.ReadCommandResult(%s, command %s of %s) found it (%t) or failed: %v", a.userID, b.commandID, b.userID, found, err)
	}
	state, err := replay.StateAt(ctx, w.app, a.userID, replay.Point{})
	require.NoError(t, err)
	for _, task := range state.Tasks {
		if task.ID == b.taskID {
			report("replay.StateAt(%s) holds task %d of %s", a.userID, b.taskID, b.userID)
		}
	}
	err = projections.WaitFor(ctx, w.app, a.userID, b.parked, 0)
	if errors.Is(err, projections.ErrParked) {
		report("projections.WaitFor(%s, parked event of %s) reports it: %v", a.userID, b.userID, err)
	}

	handler, err := commands.NewHandler(commands.Config{DB: w.app, Logger: discardLogger()})
	require.NoError(t, err)
	header := commands.Header{UserID: a.userID}
	title := "changed by another user"
	for _, cmd := range []commands.Command{
		commands.CompleteTask{Header: header, TaskID: b.taskID},
		commands.UpdateTask{Header: header, TaskID: b.taskID, Title: &title},
		commands.DeleteTask{Header: header, TaskID: b.taskID},
		commands.AppendMessage{Header: header, ConversationID: b.conversationID, Role: "user", Content: "planted"},
	} {
		if result, err := handler.Handle(ctx, cmd); !errors.Is(err, commands.ErrNotFound) {
			report("%s of user %s on user %s's stream = %+v, %v; want ErrNotFound", cmd.CommandName(), a.userID, b.userID, result, err)
		}
	}
}

// checkHTTP sends a's user id with b's ids to the HTTP API, served on the
// application role's pool.
func (w *world) checkHTTP(t *testing.T, report func(string, ...any)) {
	t.Helper()
	handler, err := commands.NewHandler(commands.Config{DB: w.app, Logger: discardLogger()})
	require.NoError(t, err)
	server, err := httpapi.New(httpapi.Config{
		Commands: handler, DB: w.app, Logger: discardLogger(),
		Auth: httpapi.Auth{ServiceToken: serviceToken},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(server)
	defer ts.Close()

	a, b := w.a, w.b
	userPath := "/v1/users/" + a.userID
	task := userPath + "/tasks/" + strconv.FormatInt(b.taskID, 10)
	conversation := userPath + "/conversations/" + strconv.FormatInt(b.conversationID, 10)
	requests := []struct{ method, path, body string }{
		{"GET", task, ""},
		{"GET", conversation + "/messages", ""},
		{"GET", conversation + "/messages?after=" + strconv.FormatInt(b.messageID, 10), ""},
		{"PATCH", task, `{"title": "changed by another user"}`},
		{"POST", task + "/complete", ""},
		{"DELETE", task, ""},
		{"POST", conversation + "/messages", `{"role": "user", "content": "planted"}`},
	}
	for _, r := range requests {
		req, err := http.NewRequest(r.method, ts.URL+r.path, bytes.NewReader([]byte(r.body)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+serviceToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			report("%s %s for user %s's ids answered %d, want 404: %s", r.method, r.path, b.userID, resp.StatusCode, body)
		}
	}
	for _, path := range []string{userPath + "/tasks", userPath + "/conversations"} {
		req, err := http.NewRequest("GET", ts.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+serviceToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		if bytes.Contains(body, []byte(b.userID)) {
			report("GET %s names user %s: %s", path, b.userID, body)
		}
	}
}

// countVisible runs a count query and returns its result, or 0 when the
// role may not read the table at all, which also shows nothing.
func countVisible(t *testing.T, db events.DBTX, query string, args ...any) int {
	t.Helper()
	var n int
	err := db.QueryRowContext(context.Background(), query, args...).Scan(&n)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42501" {
		return 0
	}
	require.NoError(t, err, query)
	return n
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

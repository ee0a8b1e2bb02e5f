package trace_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/internal/trace"
	"github.com/todolog/todolog/projections"
)

// modelTask is a task as the trace leaves it.
type modelTask struct {
	Title       string
	Description string
	Completed   bool
}

// modelMessage is a message as the trace has it.
type modelMessage struct {
	Role    string
	Content string
}

// modelUser is what one user should have after a replay: live tasks in
// the order they were added, conversations in the order they started.
type modelUser struct {
	Tasks         []modelTask
	Conversations [][]modelMessage
}

// buildModel computes every user's final state straight from the trace
// file, with a decoder and rules of its own rather than the package's, so
// that a mistake there cannot hide in both sides of the comparison.
func buildModel(t *testing.T, r io.Reader) map[string]*modelUser {
	t.Helper()
	type call struct {
		Name      string `json:"name"`
		Arguments struct {
			Task        string  `json:"task"`
			Title       *string `json:"title"`
			Description *string `json:"description"`
		} `json:"arguments"`
	}
	type line struct {
		User         string `json:"user"`
		Conversation string `json:"conversation"`
		Role         string `json:"role"`
		Content      string `json:"content"`
		ToolCalls    []call `json:"tool_calls"`
	}
	users := map[string]*modelUser{}
	conversationIndex := map[string]int{}
	tasks := map[string]*modelTask{}
	var taskOrder []string
	taskUser := map[string]string{}

	scanner := bufio.NewScanner(r)
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		var l line
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &l))
		user := users[l.User]
		if user == nil {
			user = &modelUser{}
			users[l.User] = user
		}
		index, ok := conversationIndex[l.Conversation]
		if !ok {
			index = len(user.Conversations)
			conversationIndex[l.Conversation] = index
			user.Conversations = append(user.Conversations, nil)
		}
		user.Conversations[index] = append(user.Conversations[index], modelMessage{l.Role, l.Content})

		for _, c := range l.ToolCalls {
			key := c.Arguments.Task
			switch c.Name {
			case "add_task":
				task := &modelTask{Title: *c.Arguments.Title}
				if c.Arguments.Description != nil {
					task.Description = *c.Arguments.Description
				}
				tasks[key] = task
				taskOrder = append(taskOrder, key)
				taskUser[key] = l.User
			case "update_task":
				if c.Arguments.Title != nil {
					tasks[key].Title = *c.Arguments.Title
				}
				if c.Arguments.Description != nil {
					tasks[key].Description = *c.Arguments.Description
				}
			case "complete_task":
				tasks[key].Completed = true
			case "reopen_task":
				tasks[key].Completed = false
			case "delete_task":
				delete(tasks, key)
			default:
				t.Fatalf("unknown tool call %q", c.Name)
			}
		}
	}
	require.NoError(t, scanner.Err())
	for _, key := range taskOrder {
		if task, live := tasks[key]; live {
			user := users[taskUser[key]]
			user.Tasks = append(user.Tasks, *task)
		}
	}
	return users
}

// requireReadTablesMatch compares the read tables, field by field, with
// the model; userPrefix is put before each trace user key.
func requireReadTablesMatch(t *testing.T, db *sql.DB, model map[string]*modelUser, userPrefix string) {
	t.Helper()
	wantTasks, wantConversations, wantMessages := 0, 0, 0
	for key, want := range model {
		user := userPrefix + key
		var tasks []modelTask
		rows, err := db.Query(`SELECT title, description, completed FROM tasks WHERE user_id = $1 ORDER BY id`, user)
		require.NoError(t, err)
		for rows.Next() {
			var task modelTask
			require.NoError(t, rows.Scan(&task.Title, &task.Description, &task.Completed))
			tasks = append(tasks, task)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, want.Tasks, tasks, "tasks of %s", user)

		var conversations [][]modelMessage
		rows, err = db.Query(`SELECT c.id, m.role, m.content FROM conversations c
			JOIN messages m ON m.user_id = c.user_id AND m.conversation_id = c.id
			WHERE c.user_id = $1 ORDER BY c.id, m.stream_version`, user)
		require.NoError(t, err)
		lastID := int64(0)
		for rows.Next() {
			var id int64
			var message modelMessage
			require.NoError(t, rows.Scan(&id, &message.Role, &message.Content))
			if id != lastID {
				conversations = append(conversations, nil)
				lastID = id
			}
			conversations[len(conversations)-1] = append(conversations[len(conversations)-1], message)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, len(want.Conversations), len(conversations), "conversations of %s", user)
		for i := range want.Conversations {
			require.Equal(t, want.Conversations[i], conversations[i], "conversation %d of %s", i+1, user)
			wantMessages += len(want.Conversations[i])
		}
		wantTasks += len(want.Tasks)
		wantConversations += len(want.Conversations)
	}

	for table, want := range map[string]int{"tasks": wantTasks, "conversations": wantConversations, "messages": wantMessages} {
		var count int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM `+table).Scan(&count))
		require.Equal(t, want, count, "rows in %s", table)
	}
	var users []string
	rows, err := db.Query(`SELECT DISTINCT user_id FROM events ORDER BY user_id`)
	require.NoError(t, err)
	for rows.Next() {
		var user string
		require.NoError(t, rows.Scan(&user))
		users = append(users, user)
	}
	require.NoError(t, rows.Err())
	var wantUsers []string
	for key := range model {
		wantUsers = append(wantUsers, userPrefix+key)
	}
	slices.Sort(wantUsers)
	require.Equal(t, wantUsers, users)
}

// replayAndCompare replays the file through dispatcher, stops the
// transport with stopTransport, waits for a projector on db to apply every
// command, and compares the read tables with the model. With projectAfter
// the projector starts only after the replay, because its transactions
// would hold back the Watermill subscribers, which read only below the
// server's oldest open transaction.
func replayAndCompare(t *testing.T, db *sql.DB, dispatcher commands.Dispatcher, stopTransport func(), path string,
	logger *slog.Logger, projectAfter bool) {
	t.Helper()
	parsed, err := trace.ReadFile(path)
	require.NoError(t, err)
	if !projectAfter {
		startProjector(t, db, logger)
	}

	started := time.Now()
	report, err := trace.Replay(context.Background(), trace.Config{
		Dispatcher: dispatcher, RunID: "model", Concurrency: 20, Logger: logger,
	}, parsed)
	require.NoError(t, err)
	require.Equal(t, len(parsed.Lines), report.Lines)
	require.Equal(t, parsed.Commands(), report.Commands)
	require.Zero(t, report.Duplicates)
	t.Logf("replayed %d commands in %s", report.Commands, time.Since(started).Round(time.Millisecond))
	stopTransport()

	started = time.Now()
	if projectAfter {
		startProjector(t, db, logger)
	}
	waitForProjections(t, db, report.Tokens)
	t.Logf("projections caught up in %s", time.Since(started).Round(time.Millisecond))

	file, err := os.Open(path)
	require.NoError(t, err)
	defer file.Close()
	requireReadTablesMatch(t, db, buildModel(t, file), "")
}

// TestModelMatchesReadTables replays the small recorded trace over HTTP,
// then over the Watermill topic, each into a fresh database, and compares
// the read tables with the model. The two run one after the other, because
// both load the two cores of a CI machine. The Watermill subscribers would
// also wait for the other replay's transactions, since they read only below
// the oldest transaction open on the whole server.
func TestModelMatchesReadTables(t *testing.T) {
	t.Parallel()
	path := sharedDataFile(t, "chat-trace-small.jsonl")
	t.Run("http", func(t *testing.T) { modelOverHTTP(t, path) })
	t.Run("watermill", func(t *testing.T) { modelOverWatermill(t, path) })
}

func modelOverHTTP(t *testing.T, path string) {
	logger := testLogger(t)
	db := openModelDatabase(t)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	require.NoError(t, err)
	const token = "model-test-service-token"
	api, err := httpapi.New(httpapi.Config{Commands: handler, DB: db, Auth: httpapi.Auth{ServiceToken: token}, Logger: logger})
	require.NoError(t, err)
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)
	client, err := trace.NewHTTPClient(server.URL, token, nil)
	require.NoError(t, err)

	replayAndCompare(t, db, client, server.Close, path, logger, false)
}

func modelOverWatermill(t *testing.T, path string) {
	logger := testLogger(t)
	db := openModelDatabase(t)
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	require.NoError(t, err)
	bus, stop := startWatermill(t, db, handler, logger)

	replayAndCompare(t, db, bus, stop, path, logger, true)
}

// startWatermill runs a Processor for handler on the PostgreSQL commands
// topic of db and returns a Bus to it, and a function that stops both,
// which also runs at cleanup.
func startWatermill(t *testing.T, db *sql.DB, handler *commands.Handler, logger *slog.Logger) (*commands.Bus, func()) {
	t.Helper()
	// One command per batch and a 1 ms poll keep a round trip short, which
	// matters here because one user of the trace has most of its commands,
	// and they go one after another.
	transport := commands.PostgreSQLConfig{DB: db, Logger: logger, PollInterval: time.Millisecond, CommandBatchSize: 1}
	subscriber, err := commands.NewPostgreSQLCommandSubscriber(transport)
	require.NoError(t, err)
	replies, err := commands.NewPostgreSQLReplyPublisher(transport)
	require.NoError(t, err)
	processor, err := commands.NewProcessor(commands.ProcessorConfig{
		Subscriber: subscriber, Publisher: replies, Handler: handler, Logger: logger,
	})
	require.NoError(t, err)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(logger))
	require.NoError(t, err)
	processor.AddToRouter(router)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- router.Run(ctx) }()
	<-router.Running()

	publisher, err := commands.NewPostgreSQLCommandPublisher(transport)
	require.NoError(t, err)
	replySubscriber, err := commands.NewPostgreSQLReplySubscriber(transport)
	require.NoError(t, err)
	bus, err := commands.NewBus(commands.BusConfig{Publisher: publisher, Subscriber: replySubscriber, Logger: logger})
	require.NoError(t, err)

	var once sync.Once
	stop := func() {
		once.Do(func() {
			require.NoError(t, bus.Close())
			require.NoError(t, publisher.Close())
			cancel()
			require.NoError(t, <-stopped)
		})
	}
	t.Cleanup(stop)
	return bus, stop
}

// openModelDatabase returns a fresh migrated database that keeps every
// connection: opening one costs a password exchange of several
// milliseconds, more than a command takes.
func openModelDatabase(t *testing.T) *sql.DB {
	t.Helper()
	db := pgtest.Open(t, pgtest.NewDatabase(t, true))
	db.SetMaxOpenConns(30)
	db.SetMaxIdleConns(30)
	return db
}

// startProjector runs a projector on db until the test ends.
func startProjector(t *testing.T, db *sql.DB, logger *slog.Logger) {
	t.Helper()
	projector, err := projections.New(db, projections.Config{Logger: logger, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- projector.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-stopped)
	})
	<-projector.Running()
}

// waitForProjections waits until the projections applied every token's
// event.
func waitForProjections(t *testing.T, db *sql.DB, tokens []trace.Token) {
	t.Helper()
	require.NotEmpty(t, tokens)
	for _, token := range tokens {
		cursor, err := commands.ParseToken(token.Token)
		require.NoError(t, err)
		require.NoError(t, projections.WaitFor(context.Background(), db, token.UserID, cursor, time.Minute))
	}
}

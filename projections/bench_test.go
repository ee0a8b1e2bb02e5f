package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

// Settings of BenchmarkCatchUp, read from the environment.
const (
	// benchEventsEnv sets how many events the log holds before the
	// projector starts. The default is 1,000,000.
	benchEventsEnv = "TODOLOG_BENCH_EVENTS"
	// benchBatchSizeEnv sets the projector's Config.BatchSize.
	benchBatchSizeEnv = "TODOLOG_BENCH_BATCH_SIZE"
	// benchApplyLoopEnv, set to 1, adds a run of runApplyLoop.
	benchApplyLoopEnv = "TODOLOG_BENCH_APPLY_LOOP"
	// benchURLParamsEnv adds connection parameters to the database URL,
	// such as binary_parameters=yes, which makes lib/pq send a statement
	// with arguments in one round trip instead of two.
	benchURLParamsEnv = "TODOLOG_BENCH_URL_PARAMS"
	// benchCatchUpBatchSizeEnv sets the projector's Config.CatchUpBatchSize.
	benchCatchUpBatchSizeEnv = "TODOLOG_BENCH_CATCH_UP_BATCH_SIZE"
	// benchPerEventEnv, set to 1, turns the catch-up loop off
	// (Config.DisableCatchUp), so the subscriber applies every event on
	// its own, one statement per event.
	benchPerEventEnv = "TODOLOG_BENCH_PER_EVENT"
)

// benchUsers is how many users the generated logs spread their events
// over.
const benchUsers = 1000

// baselineTasksQuery builds the tasks table from the log in one set-based
// statement: one row per task stream without a TaskDeleted, with the last
// title and description given, the last completion state, the first
// event's time as created_at and the last event's time, version and
// position. It is what the tasks projection computes event by event.
const baselineTasksQuery = `INSERT INTO bench_tasks
	    (id, user_id, title, description, completed, created_at, updated_at, stream_version, last_position)
	SELECT stream_id, user_id,
	       (array_agg(payload ->> 'title' ORDER BY stream_version DESC) FILTER (WHERE payload ? 'title'))[1],
	       coalesce((array_agg(payload ->> 'description' ORDER BY stream_version DESC)
	                 FILTER (WHERE payload ? 'description'))[1], ''),
	       coalesce((array_agg(event_type = 'TaskCompleted' ORDER BY stream_version DESC)
	                 FILTER (WHERE event_type IN ('TaskCompleted', 'TaskReopened')))[1], false),
	       min(occurred_at) FILTER (WHERE event_type = 'TaskAdded'),
	       (array_agg(occurred_at ORDER BY stream_version DESC))[1],
	       max(stream_version),
	       (array_agg(position ORDER BY stream_version DESC))[1]
	  FROM events
	 WHERE stream_type = 'task'
	 GROUP BY user_id, stream_id
	HAVING bool_and(event_type <> 'TaskDeleted')`

// baselineConversationsQueries build the conversations and messages tables
// from the log the same way, for the baseline of both projections.
var baselineConversationsQueries = []string{
	`INSERT INTO bench_conversations (id, user_id, created_at, updated_at, stream_version, last_position)
	SELECT stream_id, user_id, min(occurred_at), (array_agg(occurred_at ORDER BY stream_version DESC))[1],
	       max(stream_version), (array_agg(position ORDER BY stream_version DESC))[1]
	  FROM events
	 WHERE stream_type = 'conversation'
	 GROUP BY user_id, stream_id`,
	`INSERT INTO bench_messages (id, user_id, conversation_id, role, content, created_at, stream_version, position)
	SELECT (payload ->> 'message_id')::bigint, user_id, stream_id, payload ->> 'role', payload ->> 'content',
	       occurred_at, stream_version, position
	  FROM events
	 WHERE stream_type = 'conversation' AND event_type = 'MessageAppended'`,
}

// BenchmarkCatchUp measures how fast a Projector (the real Watermill router
// and watermill-sql subscribers, with the catch-up loop unless
// TODOLOG_BENCH_PER_EVENT=1) applies a log of TODOLOG_BENCH_EVENTS
// events (default 1,000,000) spread over 1,000 users. It starts from empty
// checkpoints and stops when they reach the head of the log, first with
// both projections together, then with the tasks projection alone.
//
// The baseline, measured in the same run, builds the same tables from the
// log with set-based INSERT ... SELECT statements into scratch copies of
// them: the tasks table alone, then all three. Every rate is events of the
// log per second, because each projection reads the whole log. The log is
// filled with set-based inserts through the log's insert trigger, and the
// fill time is reported too.
//
// Run it once (-benchtime 1x): one run fills, builds and catches up. Set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on.
func BenchmarkCatchUp(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode, because it fills a log of up to a million events")
	}
	count := benchEnvInt(b, benchEventsEnv, 1_000_000)
	batchSize := benchEnvInt(b, benchBatchSizeEnv, projections.DefaultBatchSize)
	catchUpBatchSize := benchEnvInt(b, benchCatchUpBatchSizeEnv, projections.DefaultCatchUpBatchSize)
	url := pgtest.NewDatabase(b, true)
	if extra := os.Getenv(benchURLParamsEnv); extra != "" {
		separator := "?"
		if strings.Contains(url, "?") {
			separator = "&"
		}
		url += separator + extra
	}
	db := pgtest.Open(b, url)

	fill := fillLog(b, db, count, benchUsers)
	head := logHead(b, db)
	b.Logf("filled %d events for %d users in %s", count, benchUsers, fill.Round(time.Millisecond))
	rate := func(d time.Duration) float64 { return float64(count) / d.Seconds() }
	b.ReportMetric(fill.Seconds(), "fill-s")
	b.ReportMetric(rate(fill), "fill-events/s")

	baselineTasks, baselineAll := buildBaselineTables(b, db)
	b.ReportMetric(rate(baselineTasks), "baseline-tasks-events/s")
	b.ReportMetric(rate(baselineAll), "baseline-all-events/s")

	if os.Getenv(benchApplyLoopEnv) == "1" {
		applyLoop := runApplyLoop(b, db, batchSize)
		b.ReportMetric(rate(applyLoop), "apply-loop-events/s")
		compareTables(b, db, "tasks", "bench_tasks")
		compareTables(b, db, "messages", "bench_messages")
		resetReadTables(b, db)
	}

	// The catch-up loop, and without it the subscriber, read full batches
	// back to back, so the poll interval only matters once the log is
	// exhausted.
	cfg := projections.Config{Logger: benchLogger(b), BatchSize: batchSize, CatchUpBatchSize: catchUpBatchSize,
		DisableCatchUp: os.Getenv(benchPerEventEnv) == "1"}
	timeout := max(10*time.Minute, time.Duration(count/500)*time.Second)

	stats, reached := runProjectorUntil(b, db, cfg, head, timeout)
	both := max(reached[projections.Tasks], reached[projections.Conversations])
	b.Logf("both projections, batch size %d, catch-up batch size %d, catch-up off: %t: tasks reached the head after %s, conversations after %s",
		batchSize, catchUpBatchSize, cfg.DisableCatchUp, reached[projections.Tasks].Round(time.Millisecond), reached[projections.Conversations].Round(time.Millisecond))
	b.ReportMetric(rate(both), "projector-events/s")
	checkCatchUp(b, db, stats, count)

	resetReadTables(b, db)
	cfg.Projections = []string{projections.Tasks}
	_, reached = runProjectorUntil(b, db, cfg, head, timeout)
	b.Logf("tasks projection alone: reached the head after %s", reached[projections.Tasks].Round(time.Millisecond))
	b.ReportMetric(rate(reached[projections.Tasks]), "projector-tasks-events/s")
	compareTables(b, db, "tasks", "bench_tasks")

	b.ReportMetric(0, "ns/op")
}

// runApplyLoop applies the whole log to both projections the way a rebuild
// does, with events.ReadAll and projections.Apply and no Watermill,
// committing every batchSize events, and returns how long it took. It
// shows what the projector's per-event SQL costs without the router, the
// subscriber, the savepoints and the parked-event checks.
func runApplyLoop(b *testing.B, db *sql.DB, batchSize int) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	var tx *sql.Tx
	applied := 0
	for r, err := range events.ReadAll(ctx, db, events.Cursor{}) {
		if err != nil {
			b.Fatal(err)
		}
		if tx == nil {
			if tx, err = db.BeginTx(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
		for _, name := range projections.Names() {
			if err := projections.Apply(ctx, tx, name, r); err != nil {
				b.Fatal(err)
			}
		}
		if applied++; applied%batchSize == 0 {
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			tx = nil
		}
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.Logf("apply loop: %d events in %s", applied, elapsed.Round(time.Millisecond))
	return elapsed
}

// buildBaselineTables creates empty copies of the read tables, with their
// indexes, constraints and the messages foreign key, and fills them from
// the log with set-based statements. It returns how long the tasks table
// took, and all three.
func buildBaselineTables(b *testing.B, db *sql.DB) (tasks, all time.Duration) {
	b.Helper()
	for _, statement := range []string{
		`CREATE TABLE bench_tasks (LIKE tasks INCLUDING ALL)`,
		`CREATE TABLE bench_conversations (LIKE conversations INCLUDING ALL)`,
		`CREATE TABLE bench_messages (LIKE messages INCLUDING ALL)`,
		`ALTER TABLE bench_messages ADD FOREIGN KEY (user_id, conversation_id)
		    REFERENCES bench_conversations (user_id, id)`,
	} {
		if _, err := db.Exec(statement); err != nil {
			b.Fatalf("%s: %v", statement, err)
		}
	}

	start := time.Now()
	if _, err := db.Exec(baselineTasksQuery); err != nil {
		b.Fatalf("building the baseline tasks table: %v", err)
	}
	tasks = time.Since(start)
	for _, query := range baselineConversationsQueries {
		if _, err := db.Exec(query); err != nil {
			b.Fatalf("building the baseline conversation tables: %v", err)
		}
	}
	all = time.Since(start)
	b.Logf("baseline: tasks table in %s, all three tables in %s", tasks.Round(time.Millisecond), all.Round(time.Millisecond))
	return tasks, all
}

// checkCatchUp fails b unless the projector applied each event of the log
// once, parked none, and built the same tables as the baseline.
func checkCatchUp(b *testing.B, db *sql.DB, stats []projections.Stats, count int) {
	b.Helper()
	owned := map[string]int64{}
	rows, err := db.Query(`SELECT stream_type, count(*) FROM events GROUP BY stream_type`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var streamType string
		var n int64
		if err := rows.Scan(&streamType, &n); err != nil {
			b.Fatal(err)
		}
		owned[streamType] = n
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	streamTypes := map[string]string{projections.Tasks: events.StreamTask, projections.Conversations: events.StreamConversation}
	for _, s := range stats {
		if want := owned[streamTypes[s.Projection]]; s.Applied != want {
			b.Errorf("projection %s applied %d events, want %d", s.Projection, s.Applied, want)
		}
		if s.Applied+s.AlreadyApplied+s.Ignored != int64(count) || s.Parked != 0 {
			b.Errorf("projection %s: %+v, want every one of %d events settled once and none parked", s.Projection, s, count)
		}
	}
	compareTables(b, db, "tasks", "bench_tasks")
	compareTables(b, db, "conversations", "bench_conversations")
	compareTables(b, db, "messages", "bench_messages")
}

// compareTables fails b unless the two tables hold the same rows.
func compareTables(b *testing.B, db *sql.DB, table, baseline string) {
	b.Helper()
	var differing, rows int64
	err := db.QueryRow(fmt.Sprintf(`SELECT
		    (SELECT count(*) FROM ((TABLE %[1]s EXCEPT ALL TABLE %[2]s) UNION ALL (TABLE %[2]s EXCEPT ALL TABLE %[1]s)) d),
		    (SELECT count(*) FROM %[1]s)`, table, baseline)).Scan(&differing, &rows)
	if err != nil {
		b.Fatal(err)
	}
	if differing != 0 || rows == 0 {
		b.Errorf("table %s has %d rows, and %d rows differ between it and %s", table, rows, differing, baseline)
	}
}

// latestMessagesCount is how many messages the conversation of
// BenchmarkLatestMessages holds.
const latestMessagesCount = 10_000

// BenchmarkLatestMessages measures ListMessages for the latest 50 messages
// of a conversation of 10,000 messages, the read a stateless chat backend
// makes on every turn, and reports the median and 99th percentile latency.
// The baseline, measured in the same run, is the plain SELECT of the same
// 50 rows by the messages table's index, issued directly and scanned the
// same way. ListMessages also checks that the conversation belongs to the
// user, which costs it a second query. The conversation sits in a log of
// 20,000 other generated events, and the projector builds the read tables
// before the measurement starts. Use the default -benchtime or at least
// -benchtime 1000x, so the percentiles rest on enough queries.
func BenchmarkLatestMessages(b *testing.B) {
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	ctx := context.Background()
	fillLog(b, db, 20_000, benchUsers)
	user, conversationID := fillConversation(b, db, latestMessagesCount)
	_, _ = runProjectorUntil(b, db, projections.Config{Logger: benchLogger(b)}, logHead(b, db), 5*time.Minute)
	if _, err := db.Exec(`VACUUM (ANALYZE) messages, conversations`); err != nil {
		b.Fatal(err)
	}
	const limit = 50

	b.Run("select", func(b *testing.B) {
		measureLatency(b, func() (int, error) {
			rows, err := db.QueryContext(ctx, `SELECT id, user_id, conversation_id, role, content, created_at
				FROM messages WHERE user_id = $1 AND conversation_id = $2
				ORDER BY stream_version DESC LIMIT $3`, user, conversationID, limit)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			var messages []projections.Message
			for rows.Next() {
				var m projections.Message
				if err := rows.Scan(&m.ID, &m.UserID, &m.ConversationID, &m.Role, &m.Content, &m.CreatedAt); err != nil {
					return 0, err
				}
				messages = append(messages, m)
			}
			return len(messages), rows.Err()
		})
	})
	b.Run("list_messages", func(b *testing.B) {
		measureLatency(b, func() (int, error) {
			messages, err := projections.ListMessages(ctx, db, user, conversationID, projections.MessagePage{Limit: limit})
			return len(messages), err
		})
	})
}

// measureLatency calls query b.N times, checks that each call returned 50
// rows, and reports the median and 99th percentile latency.
func measureLatency(b *testing.B, query func() (int, error)) {
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		n, err := query()
		latencies = append(latencies, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if n != 50 {
			b.Fatalf("query returned %d messages, want 50", n)
		}
	}
	b.StopTimer()
	median, p99 := latencySummary(latencies)
	b.ReportMetric(median, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
}

// fillConversation appends one conversation of count messages for a new
// user with set-based inserts through the log's insert trigger, and returns
// the user and the conversation id. Ids come from the id sequences, so they
// never collide with fillLog's.
func fillConversation(b *testing.B, db *sql.DB, count int) (string, int64) {
	b.Helper()
	const user = "bench-chat-user"
	var conversationID, firstMessageID int64
	err := db.QueryRow(`SELECT nextval('conversation_id_seq'), nextval('message_id_seq')`).Scan(&conversationID, &firstMessageID)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`SELECT setval('message_id_seq', $1)`, firstMessageID+int64(count)); err != nil {
		b.Fatal(err)
	}

	_, err = db.Exec(`INSERT INTO events (event_id, user_id, stream_type, stream_id, stream_version, event_type,
		    schema_version, payload, metadata, command_id, occurred_at)
		VALUES (gen_random_uuid(), $1, 'conversation', $2, 1, 'ConversationStarted', 1,
		    jsonb_build_object('conversation_id', $2::bigint), '{}', 'chat-start', now())`, user, conversationID)
	if err != nil {
		b.Fatal(err)
	}

	// Message n (1-based) is stream version n+1 with id firstMessageID+n-1.
	// Chunks keep each transaction's pile of chain-head versions short.
	for from := 1; from <= count; from += 1000 {
		_, err := db.Exec(`INSERT INTO events (event_id, user_id, stream_type, stream_id, stream_version, event_type,
			    schema_version, payload, metadata, command_id, occurred_at)
			SELECT gen_random_uuid(), $1, 'conversation', $2, n + 1, 'MessageAppended', 1,
			       jsonb_build_object('conversation_id', $2::bigint, 'message_id', $3::bigint + n - 1,
			           'role', CASE WHEN n % 2 = 1 THEN 'user' ELSE 'assistant' END,
			           'content', 'message ' || n || ': what is on my list for the weekend, and did I buy the milk?'),
			       jsonb_build_object('command_id', 'chat-' || n), 'chat-' || n,
			       now() + n * interval '1 millisecond'
			  FROM generate_series($4::bigint, $5::bigint) AS n
			 ORDER BY n`, user, conversationID, firstMessageID, from, min(from+999, count))
		if err != nil {
			b.Fatalf("appending messages %d to %d: %v", from, min(from+999, count), err)
		}
	}
	return user, conversationID
}

// Settings of BenchmarkEndToEndLag.
const (
	// lagRate is how many commands per second the benchmark sends.
	lagRate = 200
	// lagUsers is how many users the commands are spread over.
	lagUsers = 20
	// lagSecondsEnv sets how long each load runs, in seconds. The default
	// is 10.
	lagSecondsEnv = "TODOLOG_BENCH_SECONDS"
	// lagPollInterval is how often the observer looks for the commands'
	// rows in the read tables, which bounds the measurement's resolution.
	lagPollInterval = time.Millisecond
)

// BenchmarkEndToEndLag measures read-your-writes lag with a Projector
// running: commands.Handler handles 200 commands per second (AddTask and
// AppendMessage in turn, across 20 users), and for each command the time
// from Handle's return, after the commit, until its row is in the tasks or
// messages table. An observer looks for the outstanding rows every
// millisecond, so each lag is accurate to about a millisecond plus one
// query. It reports the median, 99th percentile and maximum lag for
// projector poll intervals of 5 ms, 25 ms and the default 250 ms, and
// Handle's own median latency as the baseline a reader would wait anyway.
// Each load runs TODOLOG_BENCH_SECONDS seconds (default 10).
func BenchmarkEndToEndLag(b *testing.B) {
	seconds := benchEnvInt(b, lagSecondsEnv, 10)
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	ctx := context.Background()
	handler, err := commands.NewHandler(commands.Config{DB: db,
		Logger: slog.New(slog.NewTextHandler(benchLogWriter{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	client := commands.NewClient(handler)
	users := make([]string, lagUsers)
	conversations := make([]int64, lagUsers)
	for i := range users {
		users[i] = fmt.Sprintf("lag-user-%02d", i)
		result, err := client.StartConversation(ctx, users[i])
		if err != nil {
			b.Fatal(err)
		}
		conversations[i] = result.ConversationID
	}

	for _, pollInterval := range []time.Duration{5 * time.Millisecond, 25 * time.Millisecond, projections.DefaultPollInterval} {
		b.Run(fmt.Sprintf("poll=%s", pollInterval), func(b *testing.B) {
			projector := startBenchProjector(b, db, projections.Config{Logger: benchLogger(b), PollInterval: pollInterval})
			defer projector.stop()
			var lags, handles []time.Duration
			for range b.N {
				l, h := runLagLoad(b, db, client, users, conversations, time.Duration(seconds)*time.Second)
				lags, handles = append(lags, l...), append(handles, h...)
			}
			if len(lags) == 0 {
				b.Fatal("no command was observed in the read tables")
			}
			median, p99 := latencySummary(lags)
			b.ReportMetric(median, "lag-p50-ms")
			b.ReportMetric(p99, "lag-p99-ms")
			b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "lag-max-ms")
			handleMedian, _ := latencySummary(handles)
			b.ReportMetric(handleMedian, "handle-p50-ms")
			b.ReportMetric(float64(len(lags))/(float64(b.N)*float64(seconds)), "commands/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchProjector is a Projector running in the background.
type benchProjector struct {
	stop func()
}

// startBenchProjector runs a Projector on db and waits until it has applied
// the whole log, so the measurement that follows starts from no lag.
func startBenchProjector(b *testing.B, db *sql.DB, cfg projections.Config) benchProjector {
	b.Helper()
	projector, err := projections.New(db, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	waitForCheckpoints(b, db, projections.Names(), logHead(b, db), time.Now(), time.Minute)
	return benchProjector{stop: func() {
		closeErr := projector.Close()
		cancel()
		if err := errors.Join(closeErr, <-done); err != nil {
			b.Error(err)
		}
	}}
}

// lagCommand is a handled command whose row the observer waits for.
type lagCommand struct {
	table     string
	id        int64
	committed time.Time
}

// runLagLoad sends lagRate commands per second for duration, in turn
// AddTask and AppendMessage, each from its own goroutine so a slow command
// does not delay the next. It returns each command's lag from Handle's
// return until its row was visible, and each Handle latency.
func runLagLoad(b *testing.B, db *sql.DB, client *commands.Client, users []string, conversations []int64,
	duration time.Duration) (lags, handles []time.Duration) {
	b.Helper()
	ctx := context.Background()
	handled := make(chan lagCommand, lagRate)
	failed := make(chan error, 1)
	var sent sync.WaitGroup
	observed := make(chan []time.Duration, 1)
	go func() { observed <- observeLag(b, db, handled) }()

	var handlesMu sync.Mutex
	ticker := time.NewTicker(time.Second / lagRate)
	deadline := time.Now().Add(duration)
	for i := 0; time.Now().Before(deadline); i++ {
		<-ticker.C
		sent.Add(1)
		go func() {
			defer sent.Done()
			user := i % len(users)
			start := time.Now()
			var result commands.Result
			var err error
			command := lagCommand{table: "messages"}
			if i%2 == 0 {
				command.table = "tasks"
				result, err = client.AddTask(ctx, users[user], fmt.Sprintf("buy oat milk #%d", i), "")
				command.id = result.TaskID
			} else {
				result, err = client.AppendMessage(ctx, users[user], conversations[user], commands.RoleUser,
					fmt.Sprintf("message %d: please add oat milk to my list", i))
				command.id = result.MessageID
			}
			command.committed = time.Now()
			if err != nil {
				select {
				case failed <- err:
				default:
				}
				return
			}
			handlesMu.Lock()
			handles = append(handles, command.committed.Sub(start))
			handlesMu.Unlock()
			handled <- command
		}()
	}
	ticker.Stop()
	sent.Wait()
	close(handled)
	lags = <-observed
	select {
	case err := <-failed:
		b.Fatal(err)
	default:
	}
	return lags, handles
}

// observeLag looks for the rows of the handled commands every
// lagPollInterval until handled is closed and every row was seen, and
// returns each command's lag. A row seen by a query counts as visible at
// the query's start, when its snapshot was taken.
func observeLag(b *testing.B, db *sql.DB, handled <-chan lagCommand) []time.Duration {
	var lags []time.Duration
	pending := map[string]map[int64]time.Time{"tasks": {}, "messages": {}}
	open := true
	deadline := time.Time{}
	for {
		for drained := false; open && !drained; {
			select {
			case command, ok := <-handled:
				if !ok {
					open = false
					deadline = time.Now().Add(30 * time.Second)
					break
				}
				pending[command.table][command.id] = command.committed
			default:
				drained = true
			}
		}
		if !open && len(pending["tasks"])+len(pending["messages"]) == 0 {
			return lags
		}
		if !open && time.Now().After(deadline) {
			b.Errorf("%d tasks and %d messages were not projected within 30s", len(pending["tasks"]), len(pending["messages"]))
			return lags
		}
		if len(pending["tasks"])+len(pending["messages"]) > 0 {
			start := time.Now()
			rows, err := db.Query(`SELECT 'tasks', id FROM tasks WHERE id = ANY($1)
				UNION ALL SELECT 'messages', id FROM messages WHERE id = ANY($2)`,
				pq.Array(slices.Collect(maps.Keys(pending["tasks"]))), pq.Array(slices.Collect(maps.Keys(pending["messages"]))))
			if err != nil {
				b.Error(err)
				return lags
			}
			for rows.Next() {
				var table string
				var id int64
				if err := rows.Scan(&table, &id); err != nil {
					b.Error(err)
				}
				lags = append(lags, max(start.Sub(pending[table][id]), 0))
				delete(pending[table], id)
			}
			if err := rows.Close(); err != nil {
				b.Error(err)
			}
		}
		time.Sleep(lagPollInterval)
	}
}

package projections_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

// randomHistory is the state of one user's streams while writeRandomLog
// generates events, so that every event it writes is one a command could
// write.
type randomHistory struct {
	user string
	// tasks maps the id of each task not deleted to its completion.
	tasks         map[int64]bool
	conversations []int64
}

// randomText returns text that needs quoting in a PostgreSQL array literal:
// quotes, a backslash, braces, a comma, the word NULL and non-ASCII letters.
func randomText(rng *rand.Rand, kind string, i int) string {
	texts := []string{
		`%s %d`,
		`%s %d: "quoted", back\slash {braces}`,
		`NULL`,
		`%s %d: grüße, 買い物 🎉`,
		``,
	}
	format := texts[rng.IntN(len(texts))]
	if format == `NULL` || format == `` {
		if kind == "title" {
			return fmt.Sprintf("%s %d NULL", kind, i)
		}
		return format
	}
	return fmt.Sprintf(format, kind, i)
}

// nextRandomEvent picks the next event of h at random among those a
// command could write now.
func nextRandomEvent(rng *rand.Rand, h *randomHistory, i int) (events.Stream, events.Event) {
	var taskIDs []int64
	for id := range h.tasks {
		taskIDs = append(taskIDs, id)
	}
	slices.Sort(taskIDs)
	roll := rng.IntN(100)
	switch {
	case roll < 25 || (roll < 55 && len(taskIDs) == 0):
		id := nextID()
		h.tasks[id] = false
		return events.TaskStream(id), events.TaskAdded{TaskID: id, Title: randomText(rng, "title", i),
			Description: randomText(rng, "description", i)}
	case roll < 55:
		id := taskIDs[rng.IntN(len(taskIDs))]
		switch step := rng.IntN(10); {
		case step < 3:
			title, description := randomText(rng, "title", i), randomText(rng, "description", i)
			update := events.TaskUpdated{TaskID: id}
			switch rng.IntN(3) {
			case 0:
				update.Title = &title
			case 1:
				update.Description = &description
			default:
				update.Title, update.Description = &title, &description
			}
			return events.TaskStream(id), update
		case step < 5 && !h.tasks[id]:
			h.tasks[id] = true
			return events.TaskStream(id), events.TaskCompleted{TaskID: id}
		case step < 7 && h.tasks[id]:
			h.tasks[id] = false
			return events.TaskStream(id), events.TaskReopened{TaskID: id}
		case step < 8:
			delete(h.tasks, id)
			return events.TaskStream(id), events.TaskDeleted{TaskID: id}
		default:
			title := randomText(rng, "title", i)
			return events.TaskStream(id), events.TaskUpdated{TaskID: id, Title: &title}
		}
	case roll < 62 || len(h.conversations) == 0:
		id := nextID()
		h.conversations = append(h.conversations, id)
		return events.ConversationStream(id), events.ConversationStarted{ConversationID: id}
	default:
		id := h.conversations[rng.IntN(len(h.conversations))]
		roles := []string{"user", "assistant", "system", "tool"}
		return events.ConversationStream(id), events.MessageAppended{ConversationID: id, MessageID: nextID(),
			Role: roles[rng.IntN(len(roles))], Content: randomText(rng, "message", i)}
	}
}

// writeRandomLog appends count events for users chosen at random, 50 per
// transaction, with adds, updates, completions, reopenings and deletions
// of tasks, new conversations and messages. Events carry distinct times
// with sub-microsecond parts, which the database rounds. It returns the
// result of the last append, the head of the log.
func writeRandomLog(t *testing.T, db *sql.DB, rng *rand.Rand, users []string, count int) events.AppendResult {
	t.Helper()
	ctx := context.Background()
	histories := make([]*randomHistory, len(users))
	for i, user := range users {
		histories[i] = &randomHistory{user: user, tasks: map[int64]bool{}}
	}
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	var last events.AppendResult
	for written := 0; written < count; {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		for range min(50, count-written) {
			h := histories[rng.IntN(len(histories))]
			stream, event := nextRandomEvent(rng, h, written)
			at = at.Add(time.Duration(rng.IntN(5_000_000_000)) + 1)
			last, err = events.Append(ctx, tx, events.AppendRequest{UserID: h.user, Stream: stream,
				ExpectedVersion: events.AnyVersion, OccurredAt: at, Events: []events.Event{event}})
			require.NoError(t, err)
			written++
		}
		require.NoError(t, tx.Commit())
	}
	return last
}

// newUsers returns n new user ids.
func newUsers(n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = newUser()
	}
	return users
}

// readChecksums returns the checksum of every read table.
func readChecksums(t *testing.T, db events.DBTX) []projections.Checksum {
	t.Helper()
	var sums []projections.Checksum
	for _, table := range projections.ReadTables() {
		sum, err := projections.TableChecksum(context.Background(), db, table)
		require.NoError(t, err)
		sums = append(sums, sum)
	}
	return sums
}

// resetProjections empties the read tables, the parked events and the
// checkpoints, so the next projector starts from the beginning of the log.
func resetProjections(t *testing.T, db *sql.DB) {
	t.Helper()
	_, err := db.Exec(`TRUNCATE tasks, messages, conversations, parked_events, projection_checkpoints`)
	require.NoError(t, err)
}

// ownedEvents returns how many events of the log each projection reads.
func ownedEvents(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	var tasks, conversations int64
	err := db.QueryRow(`SELECT count(*) FILTER (WHERE stream_type = 'task'),
		count(*) FILTER (WHERE stream_type = 'conversation') FROM events`).Scan(&tasks, &conversations)
	require.NoError(t, err)
	return map[string]int64{projections.Tasks: tasks, projections.Conversations: conversations}
}

// catchUpLog counts the catch-up loop's Debug records, to show that the
// batch path ran.
type catchUpLog struct {
	slog.Handler
	batches *atomic.Int64
}

func (h catchUpLog) Enabled(context.Context, slog.Level) bool { return true }

func (h catchUpLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "catch-up batch applied" {
		h.batches.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h catchUpLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return catchUpLog{Handler: h.Handler.WithAttrs(attrs), batches: h.batches}
}

func (h catchUpLog) WithGroup(name string) slog.Handler {
	return catchUpLog{Handler: h.Handler.WithGroup(name), batches: h.batches}
}

// countingCatchUp returns cfg with a logger that counts the catch-up
// loop's batches into batches.
func countingCatchUp(cfg projections.Config, batches *atomic.Int64) projections.Config {
	cfg.Logger = slog.New(catchUpLog{Handler: cfg.Logger.Handler(), batches: batches})
	return cfg
}

// projectToHead runs a Projector with cfg until it has applied the log up
// to head, stops it and returns its stats.
func projectToHead(t *testing.T, db *sql.DB, cfg projections.Config, head events.AppendResult) []projections.Stats {
	t.Helper()
	projector := startProjector(t, db, cfg)
	waitFor(t, db, head)
	projector.Stop()
	return projector.Stats()
}

// The catch-up loop's set-based batches must build the same read tables as
// the subscriber applying one event at a time, and count each event once.
func TestCatchUpMatchesPerEventPath(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	rng := rand.New(rand.NewPCG(1, 2))
	head := writeRandomLog(t, db, rng, newUsers(40), 1500)
	owned := ownedEvents(t, db)

	var batches atomic.Int64
	cfg := countingCatchUp(fastConfig(log), &batches)
	cfg.CatchUpBatchSize = 200
	stats := projectToHead(t, db, cfg, head)
	require.GreaterOrEqual(t, batches.Load(), int64(2*1500/200), "each projection applied the log in catch-up batches")
	for _, s := range stats {
		require.Equal(t, owned[s.Projection], s.Applied, s.Projection)
		require.Equal(t, 1500-owned[s.Projection], s.Ignored, s.Projection)
		require.Zero(t, s.AlreadyApplied, s.Projection)
		require.Zero(t, s.Parked, s.Projection)
	}
	batchSums := readChecksums(t, db)

	resetProjections(t, db)
	cfg = fastConfig(log)
	cfg.DisableCatchUp = true
	projectToHead(t, db, cfg, head)
	perEventSums := readChecksums(t, db)

	for i, sum := range perEventSums {
		require.Positive(t, sum.Rows, sum.Table)
		require.Equal(t, sum, batchSums[i], sum.Table)
	}
}

// ApplyBatch on chunks of the log, some applied twice and overlapping, must
// build the same tables as Apply one event at a time, also when the
// search_path points at temporary copies of the read tables.
func TestApplyBatchMatchesApply(t *testing.T) {
	t.Parallel()
	_, source := newDatabase(t)
	rng := rand.New(rand.NewPCG(3, 4))
	writeRandomLog(t, source, rng, newUsers(30), 1200)
	_, perEvent := newDatabase(t)
	applyLog(t, source, perEvent)
	want := readChecksums(t, perEvent)

	ctx := context.Background()
	var records []events.Record
	for r, err := range events.ReadAll(ctx, source, events.Cursor{}) {
		require.NoError(t, err)
		records = append(records, r)
	}
	require.Len(t, records, 1200)

	applyChunks := func(db events.DBTX) {
		for from := 0; from < len(records); {
			to := min(from+1+rng.IntN(300), len(records))
			for _, name := range projections.Names() {
				require.NoError(t, projections.ApplyBatch(ctx, db, name, records[from:to]))
			}
			// Go back a little now and then: events applied before must
			// change nothing.
			if rng.IntN(3) == 0 {
				from = max(to-rng.IntN(50), from+1)
			} else {
				from = to
			}
		}
	}

	_, batched := newDatabase(t)
	tx, err := batched.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	applyChunks(tx)
	require.NoError(t, tx.Commit())
	require.Equal(t, want, readChecksums(t, batched))

	scratch, err := source.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer scratch.Rollback()
	for _, statement := range []string{
		`CREATE TEMPORARY TABLE tasks (LIKE public.tasks INCLUDING ALL) ON COMMIT DROP`,
		`CREATE TEMPORARY TABLE conversations (LIKE public.conversations INCLUDING ALL) ON COMMIT DROP`,
		`CREATE TEMPORARY TABLE messages (LIKE public.messages INCLUDING ALL) ON COMMIT DROP`,
		`ALTER TABLE pg_temp.messages ADD FOREIGN KEY (user_id, conversation_id) REFERENCES pg_temp.conversations (user_id, id)`,
		`SET LOCAL search_path TO pg_temp`,
	} {
		_, err := scratch.Exec(statement)
		require.NoError(t, err, statement)
	}
	applyChunks(scratch)
	require.Equal(t, want, readChecksums(t, scratch))
	var liveTasks int
	require.NoError(t, source.QueryRow(`SELECT count(*) FROM public.tasks`).Scan(&liveTasks))
	require.Zero(t, liveTasks, "ApplyBatch wrote to the tables the search_path names")
}

// ApplyBatch returns the same poison error as Apply for an event it cannot
// apply, after applying the events before it.
func TestApplyBatchReturnsPoisonError(t *testing.T) {
	t.Parallel()
	_, db := newDatabase(t)
	ctx := context.Background()
	user := newUser()
	taskID, _ := addTask(t, db, user, "first")
	insertUnknownEvent(t, db, user, taskID)
	appendEvents(t, db, user, events.TaskStream(taskID), events.TaskCompleted{TaskID: taskID})
	var records []events.Record
	for r, err := range events.ReadUser(ctx, db, user, 0) {
		require.NoError(t, err)
		records = append(records, r)
	}
	require.Len(t, records, 3)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	batchErr := projections.ApplyBatch(ctx, tx, projections.Tasks, records)
	require.ErrorContains(t, batchErr, "unknown event type")
	require.ErrorContains(t, batchErr, fmt.Sprintf("position %d", records[1].Position))
	var title string
	require.NoError(t, tx.QueryRow(`SELECT title FROM tasks WHERE id = $1`, taskID).Scan(&title))
	require.Equal(t, "first", title, "the event before the poison one was applied")

	require.NoError(t, projections.ApplyBatch(ctx, tx, projections.Conversations, records),
		"the conversations projection does not read task streams")
	require.ErrorIs(t, projections.ApplyBatch(ctx, tx, "invoices", records), projections.ErrUnknownProjection)
}

// writePoisonedLog writes a random log with two poison events in the
// middle: an unknown event type on a task of userA, and a message whose
// role breaks a check constraint in a conversation of userC. Both users
// write more events afterwards. It returns the head of the log, which is
// another user's event.
func writePoisonedLog(t *testing.T, db *sql.DB, rng *rand.Rand, userA, userC string) events.AppendResult {
	t.Helper()
	others := newUsers(15)
	writeRandomLog(t, db, rng, others, 300)

	taskA, _ := addTask(t, db, userA, "a")
	conversationA := nextID()
	appendEvents(t, db, userA, events.ConversationStream(conversationA), events.ConversationStarted{ConversationID: conversationA})
	insertUnknownEvent(t, db, userA, taskA)
	writeRandomLog(t, db, rng, others, 100)
	appendEvents(t, db, userA, events.TaskStream(taskA), events.TaskCompleted{TaskID: taskA})
	appendEvents(t, db, userA, events.ConversationStream(conversationA), events.MessageAppended{
		ConversationID: conversationA, MessageID: nextID(), Role: "user", Content: "flows past the parked task event"})

	conversationC := nextID()
	stream := events.ConversationStream(conversationC)
	appendEvents(t, db, userC, stream, events.ConversationStarted{ConversationID: conversationC})
	writeRandomLog(t, db, rng, others, 100)
	appendEvents(t, db, userC, stream, events.MessageAppended{
		ConversationID: conversationC, MessageID: nextID(), Role: "robot", Content: "beep"})
	writeRandomLog(t, db, rng, others, 100)
	appendEvents(t, db, userC, stream, events.MessageAppended{
		ConversationID: conversationC, MessageID: nextID(), Role: "user", Content: "held"})
	return writeRandomLog(t, db, rng, others, 300)
}

// parkedWithoutTimes returns every parked event without its times, which
// differ between runs.
func parkedWithoutTimes(t *testing.T, db *sql.DB) []projections.ParkedEvent {
	t.Helper()
	parked, err := projections.ListParked(context.Background(), db, "")
	require.NoError(t, err)
	for i := range parked {
		parked[i].ParkedAt, parked[i].LastAttemptAt = time.Time{}, time.Time{}
	}
	return parked
}

// A poison event inside a catch-up batch must be parked as the subscriber
// parks it, with its user's later events held behind it, while the other
// users' events of the batch are applied.
func TestCatchUpParksLikePerEventPath(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	rng := rand.New(rand.NewPCG(5, 6))
	userA, userC := newUser(), newUser()
	head := writePoisonedLog(t, db, rng, userA, userC)

	var batches atomic.Int64
	cfg := countingCatchUp(fastConfig(log), &batches)
	cfg.CatchUpBatchSize = 2000
	stats := projectToHead(t, db, cfg, head)
	require.Positive(t, batches.Load())
	batchParked := parkedWithoutTimes(t, db)
	batchSums := readChecksums(t, db)

	// ListParked orders by projection, then log order.
	require.Len(t, batchParked, 4)
	require.Equal(t, projections.Conversations, batchParked[0].Projection)
	require.Equal(t, userC, batchParked[0].UserID)
	require.Contains(t, batchParked[0].Error, "messages_role_check")
	require.Equal(t, projections.DefaultMaxAttempts, batchParked[0].Attempts)
	require.False(t, batchParked[0].Held)
	require.Equal(t, userC, batchParked[1].UserID)
	require.True(t, batchParked[1].Held)
	require.Equal(t, projections.Tasks, batchParked[2].Projection)
	require.Equal(t, userA, batchParked[2].UserID)
	require.Equal(t, "TaskArchived", batchParked[2].EventType)
	require.Equal(t, projections.DefaultMaxAttempts, batchParked[2].Attempts)
	require.False(t, batchParked[2].Held)
	require.Equal(t, userA, batchParked[3].UserID)
	require.True(t, batchParked[3].Held)
	var parkedCount int64
	for _, s := range stats {
		parkedCount += s.Parked
	}
	require.Equal(t, int64(4), parkedCount)

	ctx := context.Background()
	conversations, err := projections.ListConversations(ctx, db, userA, 0)
	require.NoError(t, err)
	require.Len(t, conversations, 1)
	messages, err := projections.ListMessages(ctx, db, userA, conversations[0].ID, projections.MessagePage{})
	require.NoError(t, err)
	require.Len(t, messages, 1, "user A's conversation flows past the parked task event")

	resetProjections(t, db)
	cfg = fastConfig(log)
	cfg.DisableCatchUp = true
	projectToHead(t, db, cfg, head)
	require.Equal(t, parkedWithoutTimes(t, db), batchParked)
	require.Equal(t, readChecksums(t, db), batchSums)
}

// Two projectors catching up on one log at once must apply every event
// exactly once between them.
func TestCatchUpConcurrentProjectors(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	url, db := newDatabase(t)
	rng := rand.New(rand.NewPCG(7, 8))
	head := writeRandomLog(t, db, rng, newUsers(40), 2000)
	owned := ownedEvents(t, db)

	cfg := fastConfig(log)
	cfg.CatchUpBatchSize = 100
	first := startProjector(t, pgtest.Open(t, url), cfg)
	second := startProjector(t, pgtest.Open(t, url), cfg)
	waitFor(t, db, head)
	first.Stop()
	second.Stop()

	for i, name := range projections.Names() {
		a, b := first.Stats()[i], second.Stats()[i]
		require.Equal(t, owned[name], a.Applied+b.Applied, name)
		require.Zero(t, a.AlreadyApplied+b.AlreadyApplied, name)
		require.Zero(t, a.Parked+b.Parked, name)
	}
	_, fromScratch := newDatabase(t)
	applyLog(t, db, fromScratch)
	require.Equal(t, readChecksums(t, fromScratch), readChecksums(t, db))
}

// Stopping projectors again and again in the middle of catch-up batches
// must lose and duplicate nothing.
func TestCatchUpSurvivesStops(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	url, db := newDatabase(t)
	rng := rand.New(rand.NewPCG(9, 10))
	head := writeRandomLog(t, db, rng, newUsers(40), 2000)
	owned := ownedEvents(t, db)

	cfg := fastConfig(log)
	cfg.CatchUpBatchSize = 150
	var stats []projections.Stats
	for range 10 {
		projector := startProjector(t, pgtest.Open(t, url), cfg)
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		projector.Stop()
		stats = append(stats, projector.Stats()...)
	}
	stats = append(stats, projectToHead(t, db, cfg, head)...)

	applied := map[string]int64{}
	for _, s := range stats {
		applied[s.Projection] += s.Applied
		require.Zero(t, s.AlreadyApplied, s.Projection)
	}
	for _, name := range projections.Names() {
		require.Equal(t, owned[name], applied[name], name)
	}
	_, fromScratch := newDatabase(t)
	applyLog(t, db, fromScratch)
	require.Equal(t, readChecksums(t, fromScratch), readChecksums(t, db))
}

// A projector that has caught up must wake its catch-up loop when a burst
// of events makes its subscriber read a full batch.
func TestFullBatchWakesCatchUp(t *testing.T) {
	t.Parallel()
	log := newTestLog(t)
	_, db := newDatabase(t)
	rng := rand.New(rand.NewPCG(11, 12))
	var batches atomic.Int64
	cfg := countingCatchUp(fastConfig(log), &batches)
	projector := startProjector(t, db, cfg)
	first := writeRandomLog(t, db, rng, newUsers(5), 5)
	waitFor(t, db, first)
	before := batches.Load()

	head := writeRandomLog(t, db, rng, newUsers(20), 500)
	waitFor(t, db, head)
	require.Greater(t, batches.Load(), before, "the catch-up loop applied part of the burst")
	projector.Stop()

	var applied int64
	for _, s := range projector.Stats() {
		applied += s.Applied
	}
	require.Equal(t, int64(505), applied)
}

func TestNewRejectsBadCatchUpBatchSize(t *testing.T) {
	db := pgtest.Open(t, pgtest.URL())
	for _, size := range []int{-1, 50_001} {
		_, err := projections.New(db, projections.Config{CatchUpBatchSize: size})
		require.ErrorContains(t, err, "catch-up batch size", size)
	}
	_, err := projections.New(db, projections.Config{CatchUpBatchSize: 1, DisableCatchUp: true})
	require.NoError(t, err)
}

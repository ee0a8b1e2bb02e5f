package events_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// newUser returns a user id no other test uses.
func newUser(t *testing.T) string {
	return "u-" + uuid.NewString()[:13]
}

func addTask(id int64, title string) events.TaskAdded {
	return events.TaskAdded{TaskID: id, Title: title}
}

func countEvents(t *testing.T, db *sql.DB, userID string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events WHERE user_id = $1`, userID).Scan(&n))
	return n
}

func TestAppendAssignsVersionsAndSequences(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)

	first, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(1), ExpectedVersion: events.NoStream,
		Events: []events.Event{addTask(1, "milk"), events.TaskCompleted{TaskID: 1}},
	})
	require.NoError(t, err)
	require.Equal(t, 2, first.StreamVersion)
	require.Equal(t, int64(2), first.UserSequence)
	require.Len(t, first.Positions, 2)
	require.Less(t, first.Positions[0], first.Positions[1])

	second, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(2), ExpectedVersion: events.AnyVersion,
		Events: []events.Event{addTask(2, "eggs")},
	})
	require.NoError(t, err)
	require.Equal(t, 1, second.StreamVersion)
	require.Equal(t, int64(3), second.UserSequence)

	var records []events.Record
	for r, err := range events.ReadStream(ctx, db, user, events.TaskStream(1), 0) {
		require.NoError(t, err)
		records = append(records, r)
	}
	require.Len(t, records, 2)
	decoded, err := records[0].Decode()
	require.NoError(t, err)
	require.Equal(t, addTask(1, "milk"), decoded)
	require.Equal(t, first.CommandID, records[1].Metadata.CommandID)
	require.Equal(t, 1, records[1].CommandIndex)
	require.Equal(t, records[0].Hash, records[1].PreviousHash)
}

func TestAppendRejectsWrongExpectedVersion(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)
	_, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(7), Events: []events.Event{addTask(7, "a")},
	})
	require.NoError(t, err)

	for _, expected := range []int{events.NoStream, 2, 5} {
		_, err := events.Append(ctx, db, events.AppendRequest{
			UserID: user, Stream: events.TaskStream(7), ExpectedVersion: expected,
			Events: []events.Event{events.TaskCompleted{TaskID: 7}},
		})
		require.ErrorIs(t, err, events.ErrConflict, "expected version %d", expected)
		var conflict *events.ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Equal(t, 1, conflict.Actual)
	}
	require.Equal(t, 1, countEvents(t, db, user))
}

func TestAppendConcurrentSameVersionOneWins(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	db.SetMaxOpenConns(32)
	ctx := context.Background()
	user := newUser(t)
	stream := events.ConversationStream(3)
	_, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: stream, ExpectedVersion: events.NoStream,
		Events: []events.Event{events.ConversationStarted{ConversationID: 3}},
	})
	require.NoError(t, err)

	const writers, rounds = 32, 5
	for round := 1; round <= rounds; round++ {
		var wins, conflicts int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := events.Append(ctx, db, events.AppendRequest{
					UserID: user, Stream: stream, ExpectedVersion: round,
					Events: []events.Event{events.MessageAppended{ConversationID: 3, MessageID: int64(round*100 + w), Role: "user", Content: "hi"}},
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, events.ErrConflict):
					conflicts++
				default:
					t.Errorf("writer %d: unexpected error %v", w, err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 1, wins, "round %d", round)
		require.Equal(t, writers-1, conflicts, "round %d", round)
	}
	require.Equal(t, rounds+1, countEvents(t, db, user))
}

func TestAppendConcurrentUsersGaplessChains(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	db.SetMaxOpenConns(32)
	ctx := context.Background()
	users := make([]string, 8)
	for i := range users {
		users[i] = newUser(t)
	}

	const writers, appendsPerWriter = 32, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := users[w%len(users)]
			for i := range appendsPerWriter {
				id := int64(w*1000 + i + 1)
				_, err := events.Append(ctx, db, events.AppendRequest{
					UserID: user, Stream: events.TaskStream(id), ExpectedVersion: events.NoStream,
					Events: []events.Event{addTask(id, fmt.Sprintf("task %d", id)), events.TaskCompleted{TaskID: id}},
				})
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	for _, user := range users {
		verifier := events.ChainVerifier{UserID: user}
		for r, err := range events.ReadUser(ctx, db, user, 0) {
			require.NoError(t, err)
			require.NoError(t, verifier.Add(r))
		}
		perUser := writers / len(users) * appendsPerWriter * 2
		require.Equal(t, int64(perUser), verifier.Count(), "user %s", user)
	}
}

func TestAppendSameCommandIDReturnsFirstResult(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)
	request := events.AppendRequest{
		UserID: user, Stream: events.TaskStream(11), ExpectedVersion: events.AnyVersion,
		CommandID: "add-11", Events: []events.Event{addTask(11, "bread")},
	}
	first, err := events.Append(ctx, db, request)
	require.NoError(t, err)

	request.Stream = events.TaskStream(12)
	request.Events = []events.Event{addTask(12, "other")}
	_, err = events.Append(ctx, db, request)
	require.ErrorIs(t, err, events.ErrDuplicate)
	var duplicate *events.DuplicateError
	require.ErrorAs(t, err, &duplicate)
	require.Equal(t, first, duplicate.First)
	require.Equal(t, 1, countEvents(t, db, user))
}

func TestAppendConcurrentDuplicatesWriteOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	db.SetMaxOpenConns(16)
	ctx := context.Background()
	user := newUser(t)

	const attempts = 16
	results := make([]events.AppendResult, attempts)
	errs := make([]error, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = events.Append(ctx, db, events.AppendRequest{
				UserID: user, Stream: events.ConversationStream(5), ExpectedVersion: events.AnyVersion,
				CommandID: "start-5", Events: []events.Event{events.ConversationStarted{ConversationID: 5}},
			})
		}()
	}
	wg.Wait()

	var winner events.AppendResult
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
			winner = results[i]
		}
	}
	require.Equal(t, 1, wins)
	for _, err := range errs {
		if err == nil {
			continue
		}
		var duplicate *events.DuplicateError
		require.ErrorAs(t, err, &duplicate)
		require.Equal(t, winner, duplicate.First)
	}
	require.Equal(t, 1, countEvents(t, db, user))
}

func TestAppendDuplicateInsideTransaction(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)
	request := events.AppendRequest{
		UserID: user, Stream: events.TaskStream(21), CommandID: "tx-21",
		Events: []events.Event{addTask(21, "in a transaction")},
	}
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	first, err := events.Append(ctx, tx, request)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = events.Append(ctx, tx, request)
	var duplicate *events.DuplicateError
	require.ErrorAs(t, err, &duplicate)
	require.Equal(t, first, duplicate.First)

	read, found, err := events.ReadCommandResult(ctx, db, user, "tx-21")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, first, read)
}

func TestAppendRejectsInvalidRequests(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)
	valid := func() events.AppendRequest {
		return events.AppendRequest{UserID: user, Stream: events.TaskStream(1), Events: []events.Event{addTask(1, "ok")}}
	}
	cases := map[string]func(*events.AppendRequest){
		"empty user id":        func(r *events.AppendRequest) { r.UserID = "" },
		"user id with space":   func(r *events.AppendRequest) { r.UserID = "a b" },
		"user id too long":     func(r *events.AppendRequest) { r.UserID = string(make([]byte, 129)) },
		"command id with NUL":  func(r *events.AppendRequest) { r.CommandID = "a\x00b" },
		"unknown stream type":  func(r *events.AppendRequest) { r.Stream.Type = "note" },
		"zero stream id":       func(r *events.AppendRequest) { r.Stream.ID = 0 },
		"no events":            func(r *events.AppendRequest) { r.Events = nil },
		"NUL in payload":       func(r *events.AppendRequest) { r.Events = []events.Event{addTask(1, "a\x00b")} },
		"expected version -2":  func(r *events.AppendRequest) { r.ExpectedVersion = -2 },
		"event ids miscounted": func(r *events.AppendRequest) { r.EventIDs = []uuid.UUID{uuid.New(), uuid.New()} },
	}
	for name, mutate := range cases {
		request := valid()
		mutate(&request)
		_, err := events.Append(ctx, db, request)
		require.ErrorIs(t, err, events.ErrInvalid, name)
	}
	require.Equal(t, 0, countEvents(t, db, user))
}

// A payload with placeholders, quotes and backslashes is stored and read
// back as it was, although Append inlines its arguments as literals.
func TestAppendKeepsTextThatLooksLikeSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	ctx := context.Background()
	user := newUser(t)
	title := `pay $1 to '$2' \ then $12; DROP TABLE tasks; --`
	_, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(1), Events: []events.Event{addTask(1, title)},
	})
	require.NoError(t, err)

	var read []events.Event
	for r, err := range events.ReadStream(ctx, db, user, events.TaskStream(1), 0) {
		require.NoError(t, err)
		e, err := r.Decode()
		require.NoError(t, err)
		read = append(read, e)
	}
	require.Equal(t, []events.Event{addTask(1, title)}, read)
}

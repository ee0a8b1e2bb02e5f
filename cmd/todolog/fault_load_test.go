package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/projections"
)

// faultServiceToken is the bearer token of the serve processes the fault
// tests start.
const faultServiceToken = "fault-service-token-0123456789"

// testApplicationName marks the fault tests' own connections, so the
// queries on pg_stat_activity can leave them out.
const testApplicationName = "todolog-fault-test"

// withApplicationName returns databaseURL with the test's application_name.
func withApplicationName(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	query := u.Query()
	query.Set("application_name", testApplicationName)
	u.RawQuery = query.Encode()
	return u.String()
}

// serviceBackendsQuery selects the service's backends on database $1: every
// client backend but the test's own connections.
const serviceBackendsQuery = `FROM pg_stat_activity
	WHERE datname = $1 AND backend_type = 'client backend'
	  AND pid <> pg_backend_pid() AND application_name <> '` + testApplicationName + `'`

// countServiceConnections returns how many connections the service holds
// to database name.
func countServiceConnections(ctx context.Context, admin *sql.DB, name string) (int, error) {
	var n int
	err := admin.QueryRowContext(ctx, `SELECT count(*) `+serviceBackendsQuery, name).Scan(&n)
	return n, err
}

// databaseName returns the database a URL names.
func databaseName(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

// ackedCommand is a command the service acknowledged with a 2xx response.
type ackedCommand struct {
	user, key, kind string
	result          commandResponse
	// at is when the acknowledgement arrived.
	at time.Time
}

// commandResponse holds the fields of a command result the checks use.
type commandResponse struct {
	CommandID      string  `json:"command_id"`
	TaskID         int64   `json:"task_id"`
	ConversationID int64   `json:"conversation_id"`
	Positions      []int64 `json:"positions"`
	Changed        bool    `json:"changed"`
	Token          string  `json:"token"`
}

// commandLoad sends commands over HTTP from one goroutine per user, as a
// chat backend does: every command carries an idempotency key, and a
// failed request is sent again with the same key until it succeeds.
type commandLoad struct {
	t      *testing.T
	base   string
	client *http.Client
	stop   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	acks []ackedCommand

	// failedRequests counts requests that failed and were sent again;
	// replayed counts acknowledgements marked Idempotent-Replayed.
	failedRequests atomic.Int64
	replayed       atomic.Int64
}

// startCommandLoad starts sending commands for users to the serve at base
// until stopAndWait.
func startCommandLoad(t *testing.T, base string, users []string) *commandLoad {
	t.Helper()
	load := &commandLoad{t: t, base: base, client: &http.Client{Timeout: 30 * time.Second}, stop: make(chan struct{})}
	for _, user := range users {
		load.wg.Add(1)
		go load.run(user)
	}
	t.Cleanup(load.stopAndWait)
	return load
}

// stopAndWait stops the load and waits for every command in flight to be
// acknowledged. It may be called more than once.
func (l *commandLoad) stopAndWait() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *commandLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// run sends one user's commands: tasks added, every second one completed,
// and chat messages in one conversation.
func (l *commandLoad) run(user string) {
	defer l.wg.Done()
	var openTask, conversation int64
	for i := 0; !l.stopped(); i++ {
		key := fmt.Sprintf("%s:%d", user, i)
		var ack ackedCommand
		var ok bool
		switch {
		case i%3 == 1 && openTask != 0:
			ack, ok = l.send(user, key, "complete", fmt.Sprintf("/v1/users/%s/tasks/%d/complete", user, openTask), "")
			openTask = 0
		case i%3 == 2 && conversation == 0:
			ack, ok = l.send(user, key, "message", "/v1/users/"+user+"/messages",
				fmt.Sprintf(`{"role": "user", "content": "message %d"}`, i))
			conversation = ack.result.ConversationID
		case i%3 == 2:
			ack, ok = l.send(user, key, "message", fmt.Sprintf("/v1/users/%s/conversations/%d/messages", user, conversation),
				fmt.Sprintf(`{"role": "assistant", "content": "reply %d"}`, i))
		default:
			ack, ok = l.send(user, key, "add", "/v1/users/"+user+"/tasks", fmt.Sprintf(`{"title": "task %d"}`, i))
			if i%2 == 0 {
				openTask = ack.result.TaskID
			}
		}
		if !ok {
			return
		}
		time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
	}
}

// send posts one command until the service acknowledges it, and reports
// whether it did within a minute.
func (l *commandLoad) send(user, key, kind, path, body string) (ackedCommand, bool) {
	giveUp := time.Now().Add(time.Minute)
	for {
		status, raw, replayed, err := l.post(path, key, body)
		if err == nil && status >= 200 && status < 300 {
			var result commandResponse
			if err := json.Unmarshal(raw, &result); err != nil {
				l.t.Errorf("command %s: undecodable result %q: %v", key, raw, err)
				return ackedCommand{}, false
			}
			ack := ackedCommand{user: user, key: key, kind: kind, result: result, at: time.Now()}
			if replayed {
				l.replayed.Add(1)
			}
			l.mu.Lock()
			l.acks = append(l.acks, ack)
			l.mu.Unlock()
			return ack, true
		}
		// 503 and 504 ask for a retry; a 500 during an outage is retried
		// too, and the checks afterwards show whether it wrote anything.
		if err == nil && status < 500 {
			l.t.Errorf("command %s: %s %s answered %d: %s", key, "POST", path, status, raw)
			return ackedCommand{}, false
		}
		l.failedRequests.Add(1)
		if time.Now().After(giveUp) {
			l.t.Errorf("command %s: no success within a minute; last status %d, error %v: %s", key, status, err, raw)
			return ackedCommand{}, false
		}
		time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond)
	}
}

func (l *commandLoad) post(path, key, body string) (status int, raw []byte, replayed bool, err error) {
	request, err := http.NewRequest("POST", l.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, false, err
	}
	request.Header.Set("Authorization", "Bearer "+faultServiceToken)
	request.Header.Set("Idempotency-Key", key)
	resp, err := l.client.Do(request)
	if err != nil {
		return 0, nil, false, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header.Get("Idempotent-Replayed") == "true", err
}

// acknowledged returns a copy of the acknowledgements so far.
func (l *commandLoad) acknowledged() []ackedCommand {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

// firstAckAfter returns when the first acknowledgement after moment
// arrived, and false when none did.
func (l *commandLoad) firstAckAfter(moment time.Time) (time.Time, bool) {
	var first time.Time
	for _, ack := range l.acknowledged() {
		if ack.at.After(moment) && (first.IsZero() || ack.at.Before(first)) {
			first = ack.at
		}
	}
	return first, !first.IsZero()
}

// checkLoggedOnce checks that the log holds the events of every
// acknowledged command exactly once, at the positions its result named,
// and no event of a command the load never sent.
func checkLoggedOnce(t *testing.T, db *sql.DB, users []string, acks []ackedCommand) {
	t.Helper()
	rows, err := db.Query(`SELECT user_id, command_id, array_agg(position ORDER BY position)
		FROM events WHERE user_id = ANY($1) GROUP BY user_id, command_id`, pq.Array(users))
	require.NoError(t, err)
	defer rows.Close()
	logged := map[string][]int64{}
	for rows.Next() {
		var user, commandID string
		var positions pq.Int64Array
		require.NoError(t, rows.Scan(&user, &commandID, &positions))
		logged[commandID] = positions
	}
	require.NoError(t, rows.Err())

	acked := map[string]bool{}
	for _, ack := range acks {
		acked[ack.key] = true
		require.Equal(t, ack.key, ack.result.CommandID, "the result names the idempotency key")
		if len(ack.result.Positions) == 0 {
			require.NotContains(t, logged, ack.key, "command %s changed nothing but has events", ack.key)
			continue
		}
		require.Equal(t, ack.result.Positions, logged[ack.key], "events of command %s (%s)", ack.key, ack.kind)
	}
	for commandID := range logged {
		require.True(t, acked[commandID], "the log holds command %s, which was never acknowledged", commandID)
	}
}

// waitForProjections waits until every user's last consistency token has
// been applied, then until no projection is behind the log, and checks the
// read tables against the acknowledged commands.
func waitForProjections(t *testing.T, base string, db *sql.DB, acks []ackedCommand) {
	t.Helper()
	lastToken := map[string]string{}
	for _, ack := range acks {
		if ack.result.Token != "" {
			lastToken[ack.user] = ack.result.Token
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for user, token := range lastToken {
		require.Eventually(t, func() bool {
			request, err := http.NewRequest("GET", base+"/v1/users/"+user+"/tasks", nil)
			require.NoError(t, err)
			request.Header.Set("Authorization", "Bearer "+faultServiceToken)
			request.Header.Set("Consistency-Token", token)
			resp, err := client.Do(request)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 60*time.Second, 100*time.Millisecond, "projections never applied user %s's token %s", user, token)
	}

	require.Eventually(t, func() bool {
		lags, err := projections.ReadLag(context.Background(), db)
		if err != nil {
			return false
		}
		for _, lag := range lags {
			if lag.Events > 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "the projection checkpoints never reached the log's head")

	type counts struct{ tasks, completed, messages int }
	want := map[string]*counts{}
	for _, ack := range acks {
		if want[ack.user] == nil {
			want[ack.user] = &counts{}
		}
		switch {
		case ack.kind == "add":
			want[ack.user].tasks++
		case ack.kind == "complete" && ack.result.Changed:
			want[ack.user].completed++
		case ack.kind == "message":
			want[ack.user].messages++
		}
	}
	for user, expected := range want {
		var got counts
		require.NoError(t, db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE completed) FROM tasks WHERE user_id = $1`,
			user).Scan(&got.tasks, &got.completed))
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM messages WHERE user_id = $1`, user).Scan(&got.messages))
		require.Equal(t, *expected, got, "read tables of user %s", user)
	}
}

// countLines returns how many lines of text contain every one of parts.
func countLines(text string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		all := line != ""
		for _, part := range parts {
			all = all && strings.Contains(line, part)
		}
		if all {
			n++
		}
	}
	return n
}

// readyzProbe polls /readyz and records every response.
type readyzProbe struct {
	mu      sync.Mutex
	answers []readyzAnswer
	stop    chan struct{}
	done    chan struct{}
}

type readyzAnswer struct {
	at     time.Time
	status int // 0 when the request failed
}

func startReadyzProbe(t *testing.T, base string) *readyzProbe {
	t.Helper()
	probe := &readyzProbe{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(probe.done)
		for {
			select {
			case <-probe.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			status := 0
			if resp, err := client.Get(base + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			probe.mu.Lock()
			probe.answers = append(probe.answers, readyzAnswer{at: time.Now(), status: status})
			probe.mu.Unlock()
		}
	}()
	t.Cleanup(probe.close)
	return probe
}

func (p *readyzProbe) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// between returns the responses recorded in [from, to).
func (p *readyzProbe) between(from, to time.Time) []readyzAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	var found []readyzAnswer
	for _, a := range p.answers {
		if !a.at.Before(from) && a.at.Before(to) {
			found = append(found, a)
		}
	}
	return found
}

// statusCounts describes responses as "200×12 503×4".
func statusCounts(answers []readyzAnswer) string {
	counts := map[int]int{}
	for _, a := range answers {
		counts[a.status]++
	}
	var parts []string
	for _, status := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d×%d", status, counts[status]))
	}
	return strings.Join(parts, " ")
}

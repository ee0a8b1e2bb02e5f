package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

// runProjector projects the database's log until the test ends.
func runProjector(t *testing.T, a *api) {
	t.Helper()
	projector, err := projections.New(a.db, projections.Config{
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- projector.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-projector.Running():
	case err := <-done:
		// Put the result back for the cleanup above, which waits for it.
		done <- err
		t.Fatalf("projector stopped at start: %v", err)
	}
}

func TestReadYourWritesWithToken(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.NewDatabase(t, true))
	runProjector(t, a)
	user := newUser()

	for i := range 30 {
		added := a.do("POST", "/v1/users/"+user+"/tasks", map[string]any{"title": fmt.Sprintf("task %d", i)})
		require.Equal(t, http.StatusCreated, added.status, added.raw)
		listed := a.do("GET", "/v1/users/"+user+"/tasks", nil, "Consistency-Token", added.header.Get("Consistency-Token"))
		require.Equal(t, http.StatusOK, listed.status, listed.raw)
		tasks := listed.body["tasks"].([]any)
		require.Len(t, tasks, i+1, "the task just added must be listed")
		require.Equal(t, added.body["task_id"], tasks[i].(map[string]any)["id"])
	}
}

func TestQueryEndpoints(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.NewDatabase(t, true))
	runProjector(t, a)
	user, other := newUser(), newUser()
	base := "/v1/users/" + user

	milk := a.do("POST", base+"/tasks", map[string]any{"title": "milk", "description": "oat"})
	bread := a.do("POST", base+"/tasks", map[string]any{"title": "bread"})
	done := a.do("POST", fmt.Sprintf("%s/tasks/%d/complete", base, int64(bread.body["task_id"].(float64))), nil)
	first := a.do("POST", base+"/messages", map[string]any{"role": "user", "content": "hello"})
	conversation := int64(first.body["conversation_id"].(float64))
	var last response
	for i := range 5 {
		last = a.do("POST", fmt.Sprintf("%s/conversations/%d/messages", base, conversation),
			map[string]any{"role": "assistant", "content": fmt.Sprintf("reply %d", i)})
	}
	token := last.header.Get("Consistency-Token")
	require.NotEmpty(t, token)
	require.Equal(t, http.StatusOK, done.status)

	pending := a.do("GET", base+"/tasks?status=pending&token="+token, nil)
	require.Equal(t, http.StatusOK, pending.status, pending.raw)
	require.Len(t, pending.body["tasks"], 1)
	task := pending.body["tasks"].([]any)[0].(map[string]any)
	require.Equal(t, "milk", task["title"])
	require.Equal(t, "oat", task["description"])
	require.Equal(t, false, task["completed"])
	completed := a.do("GET", base+"/tasks?status=completed", nil)
	require.Len(t, completed.body["tasks"], 1)
	all := a.do("GET", base+"/tasks?status=all", nil)
	require.Len(t, all.body["tasks"], 2)

	one := a.do("GET", fmt.Sprintf("%s/tasks/%d", base, int64(milk.body["task_id"].(float64))), nil)
	require.Equal(t, http.StatusOK, one.status, one.raw)
	require.Equal(t, "milk", one.body["title"])

	latest := a.do("GET", fmt.Sprintf("%s/conversations/%d/messages?limit=2", base, conversation), nil)
	require.Equal(t, http.StatusOK, latest.status, latest.raw)
	messages := latest.body["messages"].([]any)
	require.Len(t, messages, 2)
	require.Equal(t, "reply 3", messages[0].(map[string]any)["content"])
	require.Equal(t, "reply 4", messages[1].(map[string]any)["content"])
	after := a.do("GET", fmt.Sprintf("%s/conversations/%d/messages?after=%d", base, conversation,
		int64(first.body["message_id"].(float64))), nil)
	require.Len(t, after.body["messages"], 5)

	conversations := a.do("GET", base+"/conversations", nil)
	require.Len(t, conversations.body["conversations"], 1)

	// Another user's ids are not found, and bad parameters name the field.
	stolen := a.do("GET", fmt.Sprintf("/v1/users/%s/tasks/%d", other, int64(milk.body["task_id"].(float64))), nil)
	require.Equal(t, http.StatusNotFound, stolen.status)
	stolenMessages := a.do("GET", fmt.Sprintf("/v1/users/%s/conversations/%d/messages", other, conversation), nil)
	require.Equal(t, http.StatusNotFound, stolenMessages.status)
	badStatus := a.do("GET", base+"/tasks?status=done", nil)
	require.Equal(t, http.StatusUnprocessableEntity, badStatus.status)
	require.Contains(t, badStatus.problems(), [2]string{"status", "one_of"})
	badToken := a.do("GET", base+"/tasks?token=nonsense", nil)
	require.Equal(t, http.StatusUnprocessableEntity, badToken.status)
	require.Contains(t, badToken.problems(), [2]string{"token", "pattern"})
	badLimit := a.do("GET", fmt.Sprintf("%s/conversations/%d/messages?limit=-1", base, conversation), nil)
	require.Equal(t, http.StatusUnprocessableEntity, badLimit.status)
	unauthenticated := a.doAs("", "GET", base+"/tasks", nil)
	require.Equal(t, http.StatusUnauthorized, unauthenticated.status)
}

func TestTokenWaitTimesOutWithoutProjector(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.NewDatabase(t, true))
	user := newUser()
	added := a.do("POST", "/v1/users/"+user+"/tasks", map[string]any{"title": "never projected"})
	start := time.Now()
	listed := a.do("GET", "/v1/users/"+user+"/tasks", nil, "Consistency-Token", added.header.Get("Consistency-Token"))
	require.Equal(t, http.StatusGatewayTimeout, listed.status, listed.raw)
	require.Equal(t, "consistency_timeout", listed.code())
	require.GreaterOrEqual(t, time.Since(start), 4*time.Second)
}

package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/pgtest"
)

func TestAddTaskAndLifecycle(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.URL())
	user := newUser()

	added := a.do("POST", "/v1/users/"+user+"/tasks", map[string]any{"title": "  buy milk ", "description": "2 litres"})
	require.Equal(t, http.StatusCreated, added.status, added.raw)
	taskID := int64(added.body["task_id"].(float64))
	require.Positive(t, taskID)
	require.Equal(t, true, added.body["changed"])
	require.NotEmpty(t, added.header.Get("Consistency-Token"))
	path := fmt.Sprintf("/v1/users/%s/tasks/%d", user, taskID)

	updated := a.do("PATCH", path, map[string]any{"title": "buy oat milk"})
	require.Equal(t, http.StatusOK, updated.status, updated.raw)
	require.Equal(t, float64(2), updated.body["stream_version"])

	completed := a.do("POST", path+"/complete", nil)
	require.Equal(t, http.StatusOK, completed.status, completed.raw)
	again := a.do("POST", path+"/complete", nil)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, false, again.body["changed"])
	require.NotEmpty(t, again.body["note"])

	reopened := a.do("POST", path+"/reopen", nil)
	require.Equal(t, http.StatusOK, reopened.status, reopened.raw)
	deleted := a.do("DELETE", path, nil)
	require.Equal(t, http.StatusOK, deleted.status, deleted.raw)
	gone := a.do("POST", path+"/complete", nil)
	require.Equal(t, http.StatusNotFound, gone.status, gone.raw)
	require.Equal(t, "not_found", gone.code())
}

func TestConversationAndMessages(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.URL())
	user := newUser()

	first := a.do("POST", "/v1/users/"+user+"/messages", map[string]any{"role": "user", "content": "hello\nthere"})
	require.Equal(t, http.StatusCreated, first.status, first.raw)
	conversation := int64(first.body["conversation_id"].(float64))
	require.Positive(t, conversation)

	reply := a.do("POST", fmt.Sprintf("/v1/users/%s/conversations/%d/messages", user, conversation),
		map[string]any{"role": "assistant", "content": "Hi! ’é"})
	require.Equal(t, http.StatusCreated, reply.status, reply.raw)
	require.Equal(t, float64(conversation), reply.body["conversation_id"])
	require.Greater(t, reply.body["message_id"].(float64), first.body["message_id"].(float64))

	started := a.do("POST", "/v1/users/"+user+"/conversations", nil)
	require.Equal(t, http.StatusCreated, started.status, started.raw)
	require.NotEqual(t, float64(conversation), started.body["conversation_id"])
}

func TestIdempotencyKeyReplaysFirstResult(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.NewDatabase(t, true))
	user := newUser()
	path := "/v1/users/" + user + "/tasks"

	first := a.do("POST", path, map[string]any{"title": "once"}, "Idempotency-Key", "key-1")
	require.Equal(t, http.StatusCreated, first.status, first.raw)
	second := a.do("POST", path, map[string]any{"title": "once"}, "Idempotency-Key", "key-1")
	require.Equal(t, http.StatusCreated, second.status, second.raw)
	require.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	require.Equal(t, first.body["task_id"], second.body["task_id"])
	require.Equal(t, first.body["token"], second.body["token"])

	// Concurrent retries of a new key also write once.
	var wg sync.WaitGroup
	ids := make([]any, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("POST", path, map[string]any{"title": "concurrent"}, "Idempotency-Key", "key-2")
			ids[i] = r.body["task_id"]
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	require.Equal(t, 2, a.eventCount())

	mismatch := a.do("POST", path, map[string]any{"title": "x", "command_id": "other"}, "Idempotency-Key", "key-3")
	require.Equal(t, http.StatusBadRequest, mismatch.status, mismatch.raw)
}

func TestStaleExpectedVersionConflicts(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.URL())
	user := newUser()
	added := a.do("POST", "/v1/users/"+user+"/tasks", map[string]any{"title": "versioned"})
	path := fmt.Sprintf("/v1/users/%s/tasks/%d", user, int64(added.body["task_id"].(float64)))

	ok := a.do("PATCH", path, map[string]any{"title": "v2", "expected_version": 1})
	require.Equal(t, http.StatusOK, ok.status, ok.raw)
	stale := a.do("PATCH", path, map[string]any{"title": "v3", "expected_version": 1})
	require.Equal(t, http.StatusConflict, stale.status, stale.raw)
	require.Equal(t, "conflict", stale.code())
}

func TestInvalidCommandsWriteNothing(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.NewDatabase(t, true))
	owner := newUser()
	added := a.do("POST", "/v1/users/"+owner+"/tasks", map[string]any{"title": "owned"})
	require.Equal(t, http.StatusCreated, added.status)
	ownerTask := int64(added.body["task_id"].(float64))
	before := a.eventCount()

	user := newUser()
	tasks := "/v1/users/" + user + "/tasks"
	messages := "/v1/users/" + user + "/messages"
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field, rule        string
	}{
		{"title of 201 multi-byte characters", "POST", tasks, `{"title": "` + strings.Repeat("é", 201) + `"}`, 422, "title", "length"},
		{"empty title", "POST", tasks, `{"title": "   "}`, 422, "title", "required"},
		{"NUL in title", "POST", tasks, `{"title": "a\u0000b"}`, 422, "title", "no_nul"},
		{"NUL in description", "POST", tasks, `{"title": "t", "description": "a\u0000b"}`, 422, "description", "no_nul"},
		{"NUL in content", "POST", messages, `{"role": "user", "content": "a\u0000b"}`, 422, "content", "no_nul"},
		{"lone surrogate", "POST", tasks, `{"title": "milk \ud800"}`, 422, "title", "utf8"},
		{"invalid UTF-8", "POST", tasks, []byte("{\"title\": \"caf\xe9\"}"), 422, "title", "utf8"},
		{"description too long", "POST", tasks, `{"title": "t", "description": "` + strings.Repeat("x", 2001) + `"}`, 422, "description", "length"},
		{"1 MB message", "POST", messages, `{"role": "user", "content": "` + strings.Repeat("x", 1_000_000) + `"}`, 422, "content", "length"},
		{"bad role", "POST", messages, `{"role": "robot", "content": "hi"}`, 422, "role", "one_of"},
		{"wrong JSON type", "POST", tasks, `{"title": 42}`, 400, "title", "type"},
		{"unknown field", "POST", tasks, `{"title": "t", "colour": "red"}`, 400, "colour", "unknown_field"},
		{"malformed JSON", "POST", tasks, `{"title": `, 400, "", "json"},
		{"unknown command", "POST", "/v1/users/" + user + "/commands/RenameTask", `{}`, 400, "command", "unknown_command"},
		{"bad user id", "POST", "/v1/users/bad%20user/tasks", `{"title": "t"}`, 422, "user_id", "pattern"},
		{"update without fields", "PATCH", fmt.Sprintf("%s/%d", tasks, ownerTask), `{}`, 422, "title,description", "at_least_one"},
	}
	for _, c := range cases {
		r := a.do(c.method, c.path, c.body)
		require.Equal(t, c.status, r.status, "%s: %s", c.name, r.raw)
		require.Contains(t, r.problems(), [2]string{c.field, c.rule}, "%s: %s", c.name, r.raw)
	}

	// Another user's task is not found, through the task route and the
	// generic command route.
	other := a.do("POST", fmt.Sprintf("%s/%d/complete", tasks, ownerTask), nil)
	require.Equal(t, http.StatusNotFound, other.status, other.raw)
	generic := a.do("POST", "/v1/users/"+user+"/commands/CompleteTask", map[string]any{"task_id": ownerTask})
	require.Equal(t, http.StatusNotFound, generic.status, generic.raw)

	tooLarge := a.do("POST", messages, `{"role": "user", "content": "`+strings.Repeat("x", 2<<20)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, tooLarge.status)
	badPath := a.do("POST", tasks+"/abc/complete", nil)
	require.Equal(t, http.StatusBadRequest, badPath.status)

	require.Equal(t, before, a.eventCount())
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := newAPI(t, pgtest.URL())
	user := newUser()
	path := "/v1/users/" + user + "/tasks"
	body := map[string]any{"title": "auth"}

	require.Equal(t, http.StatusUnauthorized, a.doAs("", "POST", path, body).status)
	require.Equal(t, http.StatusUnauthorized, a.doAs("Bearer wrong-token", "POST", path, body).status)
	require.Equal(t, http.StatusUnauthorized, a.doAs("Basic "+serviceToken, "POST", path, body).status)

	sign := func(claims jwt.MapClaims, method jwt.SigningMethod, key any) string {
		token, err := jwt.NewWithClaims(method, claims).SignedString(key)
		require.NoError(t, err)
		return "Bearer " + token
	}
	valid := sign(jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256, jwtSecret)
	require.Equal(t, http.StatusCreated, a.doAs(valid, "POST", path, body).status)

	otherUser := sign(jwt.MapClaims{"sub": "someone-else", "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256, jwtSecret)
	require.Equal(t, http.StatusForbidden, a.doAs(otherUser, "POST", path, body).status)
	expired := sign(jwt.MapClaims{"sub": user, "exp": time.Now().Add(-time.Hour).Unix()}, jwt.SigningMethodHS256, jwtSecret)
	require.Equal(t, http.StatusUnauthorized, a.doAs(expired, "POST", path, body).status)
	noExpiry := sign(jwt.MapClaims{"sub": user}, jwt.SigningMethodHS256, jwtSecret)
	require.Equal(t, http.StatusUnauthorized, a.doAs(noExpiry, "POST", path, body).status)
	wrongKey := sign(jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef0123"))
	require.Equal(t, http.StatusUnauthorized, a.doAs(wrongKey, "POST", path, body).status)
	wrongAlgorithm := sign(jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS512, jwtSecret)
	require.Equal(t, http.StatusUnauthorized, a.doAs(wrongAlgorithm, "POST", path, body).status)

	require.Equal(t, http.StatusOK, a.doAs("", "GET", "/healthz", nil).status)
	require.Equal(t, http.StatusOK, a.doAs("", "GET", "/readyz", nil).status)
	metrics := a.doAs("", "GET", "/metrics", nil)
	require.Contains(t, metrics.raw, "todolog_http_request_duration_seconds")
}

func TestAuthConfigIsRequired(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, httpapi.Auth{}.Validate(), "TODOLOG_SERVICE_TOKEN")
	require.ErrorContains(t, httpapi.Auth{ServiceToken: "short"}.Validate(), "at least 16")
	require.ErrorContains(t, httpapi.Auth{JWTSecret: []byte("short")}.Validate(), "at least 32")
	require.NoError(t, httpapi.Auth{Disabled: true}.Validate())
}

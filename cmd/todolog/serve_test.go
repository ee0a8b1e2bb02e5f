package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

// syncBuffer is a bytes.Buffer safe to read while the process writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer listener.Close()
	return listener.Addr().String()
}

// startServe runs `todolog serve` and waits until it responds to /healthz.
func startServe(t *testing.T, env []string, args ...string) (string, *exec.Cmd, *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Env = processEnv(t, env)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Logf("serve logs:\n%s", logs.String())
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return "http://" + addr, cmd, logs
		}
		require.True(t, time.Now().Before(deadline), "serve did not answer within 20s:\n%s", logs.String())
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServeDrivesCommandsOverHTTP(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t, true), "TODOLOG_SERVICE_TOKEN=e2e-service-token-0123456789"}
	base, cmd, logs := startServe(t, env)

	post := func(path, body string) (int, map[string]any) {
		request, err := http.NewRequest("POST", base+path, strings.NewReader(body))
		require.NoError(t, err)
		request.Header.Set("Authorization", "Bearer e2e-service-token-0123456789")
		resp, err := http.DefaultClient.Do(request)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var decoded map[string]any
		require.NoError(t, json.Unmarshal(raw, &decoded), "%s", raw)
		return resp.StatusCode, decoded
	}

	var resp *http.Response
	status, added := post("/v1/users/alice/tasks", `{"title": "water the plants"}`)
	require.Equal(t, http.StatusCreated, status, added)
	taskID := int64(added["task_id"].(float64))

	// The projector runs in the same process; the token makes the read wait
	// for it.
	request, err := http.NewRequest("GET", base+"/v1/users/alice/tasks?token="+added["token"].(string), nil)
	require.NoError(t, err)
	request.Header.Set("Authorization", "Bearer e2e-service-token-0123456789")
	listed, err := http.DefaultClient.Do(request)
	require.NoError(t, err)
	listedBody, err := io.ReadAll(listed.Body)
	listed.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, listed.StatusCode, "%s", listedBody)
	require.Contains(t, string(listedBody), `"title":"water the plants"`)
	status, completed := post(fmt.Sprintf("/v1/users/alice/tasks/%d/complete", taskID), ``)
	require.Equal(t, http.StatusOK, status, completed)
	status, stolen := post(fmt.Sprintf("/v1/users/mallory/tasks/%d/complete", taskID), ``)
	require.Equal(t, http.StatusNotFound, status, stolen)
	status, invalid := post("/v1/users/alice/tasks", `{"title": ""}`)
	require.Equal(t, http.StatusUnprocessableEntity, status, invalid)

	resp, err = http.Get(base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(metrics), `todolog_projection_lag_events{projection="tasks"}`)

	projectionStatus := todolog(t, env, "projections", "status")
	require.Equal(t, 0, projectionStatus.code)
	require.Contains(t, projectionStatus.stdout, "EVENTS BEHIND")
	require.Contains(t, projectionStatus.stdout, "tasks")

	// SIGTERM drains and exits cleanly.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	require.Contains(t, logs.String(), "msg=stopped")
}

func TestServeRefusesUnsafeStart(t *testing.T) {
	unmigrated := []string{"DATABASE_URL=" + pgtest.NewDatabase(t, false), "TODOLOG_SERVICE_TOKEN=e2e-service-token-0123456789"}
	r := todolog(t, unmigrated, "serve", "--addr", freeAddr(t))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "todolog migrate up")

	noAuth := []string{"DATABASE_URL=" + pgtest.URL()}
	r = todolog(t, noAuth, "serve", "--addr", freeAddr(t))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "TODOLOG_SERVICE_TOKEN")

	badEnv := []string{"DATABASE_URL=" + pgtest.URL(), "TODOLOG_DB_MAX_OPEN=many"}
	r = todolog(t, badEnv, "serve", "--addr", freeAddr(t))
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `TODOLOG_DB_MAX_OPEN="many" is not an integer`)
}

func TestServeWarnsWhenAuthIsOff(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.URL()}
	base, _, logs := startServe(t, env, "--insecure-no-auth")
	resp, err := http.Post(base+"/v1/users/bob/tasks", "application/json", strings.NewReader(`{"title": "no auth"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	scanner := bufio.NewScanner(strings.NewReader(logs.String()))
	warned := false
	for scanner.Scan() {
		if strings.Contains(scanner.Text(), "level=WARN") && strings.Contains(scanner.Text(), "authentication is disabled") {
			warned = true
		}
	}
	require.True(t, warned, logs.String())
}

func TestProjectionsCommandResolvesParkedEvent(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, databaseURL)
	env := []string{"DATABASE_URL=" + databaseURL}
	// An event type no projection handles parks in both projections.
	_, err := db.Exec(`INSERT INTO events (event_id, user_id, stream_type, stream_id, event_type, schema_version,
		payload, command_id, occurred_at) VALUES (gen_random_uuid(), 'carol', 'task', 1, 'TaskArchived', 1, '{}', 'c-1', now())`)
	require.NoError(t, err)
	startProjectorProcess(t, databaseURL)

	var position int64
	require.Eventually(t, func() bool {
		return db.QueryRow(`SELECT position FROM parked_events WHERE projection = 'tasks'`).Scan(&position) == nil
	}, 20*time.Second, 50*time.Millisecond)

	parked := todolog(t, env, "projections", "parked")
	require.Equal(t, 0, parked.code)
	require.Contains(t, parked.stdout, "TaskArchived")
	require.Contains(t, parked.stdout, "carol")

	skipped := todolog(t, env, "projections", "skip", "tasks", fmt.Sprint(position))
	require.Equal(t, 0, skipped.code, skipped.stderr)
	require.Contains(t, skipped.stdout, "skip of event")
	bad := todolog(t, env, "projections", "retry", "tasks", "x")
	require.Equal(t, 2, bad.code)
}

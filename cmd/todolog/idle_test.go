package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

// idleConsumers are the subscribers of a full `todolog serve`.
var idleConsumers = []string{"projection_tasks", "projection_conversations", "commands"}

// readPolls returns todolog_subscriber_polls_total per consumer from the
// service's /metrics.
func readPolls(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	polls := map[string]float64{}
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
		rest, ok := strings.CutPrefix(line, `todolog_subscriber_polls_total{consumer="`)
		if !ok {
			continue
		}
		name, value, ok := strings.Cut(rest, `"} `)
		require.True(t, ok, line)
		n, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err, line)
		polls[name] = n
	}
	require.NoError(t, scanner.Err())
	return polls
}

// A quiet service backs off to one poll per ceiling per consumer. The
// ceiling here is 4 s instead of the default minute, so the test is short;
// the schedule is the same.
func TestQuietServicePollsOncePerCeiling(t *testing.T) {
	t.Parallel()
	const ceiling = 4 * time.Second
	base, _, _ := startServe(t, []string{"DATABASE_URL=" + pgtest.NewDatabase(t, true)}, "--insecure-no-auth",
		"--projection-poll-interval", "20ms", "--idle-grace", "300ms", "--idle-poll-ceiling", ceiling.String())

	// The waits double from 20 ms after the grace period, so they reach
	// the ceiling after about twice its length.
	time.Sleep(300*time.Millisecond + 2*ceiling + time.Second)
	before := readPolls(t, base)
	const window = 3 * ceiling
	time.Sleep(window)
	after := readPolls(t, base)

	for _, consumer := range idleConsumers {
		polls := after[consumer] - before[consumer]
		t.Logf("%s: %.0f polls in %s of quiet, %.1f per minute", consumer, polls, window, polls/window.Minutes())
		require.Contains(t, before, consumer)
		require.LessOrEqual(t, polls, float64(window/ceiling)+1, "%s polled more than once per %s", consumer, ceiling)
	}
}

// An append of the service's own process wakes the projectors from a long
// back-off at once.
func TestAppendWakesBackedOffProjector(t *testing.T) {
	t.Parallel()
	base, _, _ := startServe(t, []string{"DATABASE_URL=" + pgtest.NewDatabase(t, true)}, "--insecure-no-auth",
		"--projection-poll-interval", "20ms", "--idle-grace", "100ms", "--idle-poll-ceiling", "1m")

	// After 8 s of quiet the waits have grown to several seconds: no
	// projector polls within a second.
	time.Sleep(8 * time.Second)
	before := readPolls(t, base)
	time.Sleep(time.Second)
	after := readPolls(t, base)
	require.Equal(t, before["projection_tasks"], after["projection_tasks"], "the tasks projector should be in a long wait")

	body, err := json.Marshal(map[string]string{"title": "wake up"})
	require.NoError(t, err)
	resp, err := http.Post(base+"/v1/users/idle-user/tasks", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	token := resp.Header.Get("Consistency-Token")
	require.NotEmpty(t, token)
	committed := time.Now()

	request, err := http.NewRequest("GET", base+"/v1/users/idle-user/tasks", nil)
	require.NoError(t, err)
	request.Header.Set("Consistency-Token", token)
	listed, err := http.DefaultClient.Do(request)
	require.NoError(t, err)
	listed.Body.Close()
	visible := time.Since(committed)
	require.Equal(t, http.StatusOK, listed.StatusCode)
	t.Logf("the task was visible %s after its command returned, with the projectors backed off", visible)
	// Without the wake-up the projector would sleep out a wait of several
	// seconds first.
	require.Less(t, visible, time.Second)
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/internal/trace"
)

// writeTrace writes a generated trace of users users to a file and returns
// its path and the number of commands it sends.
func writeTrace(t *testing.T, users int) (string, int) {
	t.Helper()
	generated := trace.Generate(trace.GenerateConfig{Users: users, Seed: 11})
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	file, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, generated.Write(file))
	require.NoError(t, file.Close())
	return path, generated.Commands()
}

func TestReplayTraceInProcessTwice(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	env := []string{"DATABASE_URL=" + databaseURL}
	path, commands := writeTrace(t, 3)

	first := todolog(t, env, "replay-trace", path, "--users", "2")
	require.Equal(t, 0, first.code)
	require.Contains(t, first.stdout, "in process")
	require.Contains(t, first.stdout, formatCount(commands)+": "+formatCount(commands)+" written")

	second := todolog(t, env, "replay-trace", "--users", "3", path)
	require.Equal(t, 0, second.code)
	require.Contains(t, second.stdout, "0 written, "+formatCount(commands)+" duplicates")
}

func TestReplayTraceOverServe(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	env := []string{"DATABASE_URL=" + databaseURL}
	url, _, _ := startServe(t, env, "--components", "http,commands", "--insecure-no-auth")
	path, commands := writeTrace(t, 2)

	overHTTP := todolog(t, env, "replay-trace", "--transport", "http", "--url", url, "--user-prefix", "http.", path)
	require.Equal(t, 0, overHTTP.code)
	require.Contains(t, overHTTP.stdout, "over HTTP")
	require.Contains(t, overHTTP.stdout, formatCount(commands)+" written")

	overTopic := todolog(t, env, "replay-trace", "--transport", "watermill", "--poll-interval", "5ms", "--user-prefix", "topic.", path)
	require.Equal(t, 0, overTopic.code)
	require.Contains(t, overTopic.stdout, "over Watermill")
	require.Contains(t, overTopic.stdout, formatCount(commands)+" written")
}

func TestReplayTraceRejectsBadInput(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t, true)}
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	lines := []string{
		`{"seq": 1, "at": "2026-03-01T09:00:00Z", "user": "user-0001", "conversation": "c-0001-01", "role": "user", "content": "hi"}`,
		`{"seq": 2, "at": "2026-03-01T09:00:01Z", "user": "user-0001", "conversation": "c-0001-01", "role": "robot", "content": "hi"}`,
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	bad := todolog(t, env, "replay-trace", path)
	require.Equal(t, 1, bad.code)
	require.Contains(t, bad.stderr, "line 2")
	require.Contains(t, bad.stderr, "rule one_of")

	for name, args := range map[string][]string{
		"no file":           {"replay-trace"},
		"two files":         {"replay-trace", path, path},
		"unknown transport": {"replay-trace", "--transport", "pigeon", path},
		"http without url":  {"replay-trace", "--transport", "http", writeTraceOnly(t)},
		"negative speed":    {"replay-trace", "--speed", "-1", path},
	} {
		r := todolog(t, env, args...)
		require.Equal(t, 2, r.code, name)
		require.NotEmpty(t, r.stderr, name)
	}
}

// writeTraceOnly returns the path of a valid one-user trace.
func writeTraceOnly(t *testing.T) string {
	t.Helper()
	path, _ := writeTrace(t, 1)
	return path
}

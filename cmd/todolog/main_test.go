package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	buildOnce   sync.Once
	binaryPath  string
	buildOutput []byte
	buildErr    error
)

// binary builds the real todolog binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "todolog-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binaryPath = filepath.Join(dir, "todolog")
		buildOutput, buildErr = exec.Command("go", "build", "-race", "-o", binaryPath, ".").CombinedOutput()
	})
	require.NoError(t, buildErr, "%s", buildOutput)
	return binaryPath
}

type result struct {
	code           int
	stdout, stderr string
}

// todolog runs the binary with env added to a clean environment (no
// DATABASE_URL unless given).
func todolog(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = processEnv(t, env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	t.Logf("todolog %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// processEnv returns a clean environment with env added. When env gives a
// DATABASE_URL but no MIGRATE_DATABASE_URL, it adds the direct URL of the
// same database, because with TODOLOG_TEST_PGBOUNCER=1 the DATABASE_URL
// leads through PgBouncer, which migrations reject.
func processEnv(t *testing.T, env []string) []string {
	t.Helper()
	full := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var databaseURL string
	for _, entry := range env {
		if strings.HasPrefix(entry, "MIGRATE_DATABASE_URL=") {
			return full
		}
		if value, ok := strings.CutPrefix(entry, "DATABASE_URL="); ok {
			databaseURL = value
		}
	}
	if databaseURL != "" {
		full = append(full, "MIGRATE_DATABASE_URL="+pgtest.DirectURL(databaseURL))
	}
	return full
}

func TestMigrateCommands(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t, false)}

	status := todolog(t, env, "migrate", "status")
	require.Equal(t, 0, status.code)
	require.Contains(t, status.stdout, "No migration has been applied")

	up := todolog(t, env, "migrate", "up")
	require.Equal(t, 0, up.code)
	require.Contains(t, up.stdout, "the latest. Nothing to do.")
	require.Contains(t, up.stderr, "migration step done")
	require.Contains(t, up.stderr, "direction=up")

	down := todolog(t, env, "migrate", "down", "2")
	require.Equal(t, 0, down.code)
	require.Contains(t, down.stdout, "pending")

	validate := todolog(t, env, "migrate", "validate")
	require.Equal(t, 0, validate.code)
	require.Contains(t, validate.stdout, "rolled back")

	goTo := todolog(t, env, "migrate", "goto", "1")
	require.Equal(t, 0, goTo.code)
	require.Contains(t, goTo.stdout, "version: 1")

	force := todolog(t, env, "migrate", "force", "1")
	require.Equal(t, 0, force.code)
	require.Equal(t, 0, todolog(t, env, "migrate", "up").code)
}

func TestMigrateRejectsBadArguments(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.URL()}
	cases := map[string][]string{
		"no action":      {"migrate"},
		"unknown action": {"migrate", "sideways"},
		"down without N": {"migrate", "down"},
		"down not int":   {"migrate", "down", "two"},
		"down zero":      {"migrate", "down", "0"},
		"unknown goto":   {"migrate", "goto", "999"},
	}
	for name, args := range cases {
		r := todolog(t, env, args...)
		require.NotEqual(t, 0, r.code, name)
		require.NotEmpty(t, r.stderr, name)
	}
	r := todolog(t, env, "frobnicate")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)
}

func TestEmbeddedDefaultDatabase(t *testing.T) {
	home := t.TempDir()
	// The server may run as the postgres user, which must enter the folder.
	require.NoError(t, os.Chmod(home, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(home), 0o755))
	env := []string{"TODOLOG_HOME=" + home}
	t.Cleanup(func() { todolog(t, env, "db", "stop") })

	status := todolog(t, env, "db", "status")
	require.Equal(t, 0, status.code)
	require.Contains(t, status.stdout, "not created")

	up := todolog(t, env, "migrate", "up")
	require.Equal(t, 0, up.code)
	require.Contains(t, up.stderr, "created PostgreSQL cluster")

	status = todolog(t, env, "db", "status")
	require.Contains(t, status.stdout, "running")
	url := todolog(t, env, "db", "url")
	require.Contains(t, url.stdout, "postgres://todolog:")

	// A second run reuses the cluster instead of creating another.
	again := todolog(t, env, "migrate", "status")
	require.Equal(t, 0, again.code)
	require.NotContains(t, again.stderr, "created PostgreSQL cluster")
	require.Contains(t, again.stdout, "the latest")

	require.Equal(t, 0, todolog(t, env, "db", "stop").code)
	status = todolog(t, env, "db", "status")
	require.Contains(t, status.stdout, "stopped")
}

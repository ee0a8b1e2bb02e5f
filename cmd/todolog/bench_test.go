package main

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

func TestBenchQuickPrintsEveryTable(t *testing.T) {
	r := todolog(t, []string{"DATABASE_URL=" + pgtest.URL()}, "bench", "--quick", "--clients", "1,4", "--duration", "200ms")
	require.Equal(t, 0, r.code, r.stderr)

	for _, heading := range []string{"### Appends and commands", "### Commands over the Watermill topic", "### Read side"} {
		require.Contains(t, r.stdout, heading)
	}
	for _, prefix := range []string{"| 1 |", "| 4 |"} {
		require.Len(t, linesWithPrefix(r.stdout, prefix), 2, "an append row and a Watermill row start with %q", prefix)
	}
	for _, what := range []string{"catch-up", "`projections.Rebuild`", "replay of one user", "latest 50 messages, `projections",
		"latest 50 messages, p99", "end-to-end lag, command", "end-to-end lag, p99", "peak memory"} {
		require.Len(t, linesWithPrefix(r.stdout, "| "+what), 1, what)
	}
	for _, line := range linesWithPrefix(r.stdout, "| ") {
		if strings.HasPrefix(line, "| clients") || strings.HasPrefix(line, "| what") || strings.HasPrefix(line, "|---") {
			continue
		}
		require.Regexp(t, `\| \d+\.\d\d \|`, line, "every row has a ratio")
		require.NotContains(t, line, "n/a")
	}

	admin, err := sql.Open("postgres", pgtest.URL())
	require.NoError(t, err)
	defer admin.Close()
	var left int
	require.NoError(t, admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname LIKE 'todolog_bench_%'`).Scan(&left))
	require.Zero(t, left, "the scratch database is dropped")
}

// linesWithPrefix returns the lines of text that start with prefix.
func linesWithPrefix(text, prefix string) []string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	return lines
}

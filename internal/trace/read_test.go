package trace_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/trace"
)

// validFirstLine is a line every case below starts from.
const validFirstLine = `{"seq": 1, "at": "2026-03-01T09:00:00Z", "user": "user-0001", "conversation": "c-0001-01", "role": "user", "content": "add milk"}`

func TestReadRejectsBadLines(t *testing.T) {
	t.Parallel()
	added := `{"seq": 2, "at": "2026-03-01T09:00:01Z", "user": "user-0001", "conversation": "c-0001-01", "role": "assistant", "content": "ok", "tool_calls": [{"name": "add_task", "arguments": {"task": "t-0001-0001", "title": "milk"}}]}`
	deleted := `{"seq": 3, "at": "2026-03-01T09:00:02Z", "user": "user-0001", "conversation": "c-0001-01", "role": "assistant", "content": "ok", "tool_calls": [{"name": "delete_task", "arguments": {"task": "t-0001-0001"}}]}`
	cases := []struct {
		name   string
		lines  []string
		line   int
		rule   string
		detail string
	}{
		{"not JSON", []string{`{"seq": 1,`}, 1, trace.RuleJSON, "incomplete"},
		{"empty line", []string{validFirstLine, ``, validFirstLine}, 2, trace.RuleJSON, "empty"},
		{"two objects", []string{validFirstLine + ` {}`}, 1, trace.RuleJSON, "after the JSON object"},
		{"invalid UTF-8", []string{"{\"seq\": 1, \"content\": \"\xff\"}"}, 1, trace.RuleUTF8, "UTF-8"},
		{"unknown key", []string{strings.Replace(validFirstLine, `"role"`, `"mood": "happy", "role"`, 1)}, 1, trace.RuleUnknownField, `"mood"`},
		{"seq as string", []string{strings.Replace(validFirstLine, `"seq": 1`, `"seq": "1"`, 1)}, 1, trace.RuleType, "seq"},
		{"seq missing", []string{strings.Replace(validFirstLine, `"seq": 1, `, ``, 1)}, 1, trace.RuleRequired, "seq"},
		{"content empty", []string{strings.Replace(validFirstLine, `"add milk"`, `""`, 1)}, 1, trace.RuleRequired, "content"},
		{"bad time", []string{strings.Replace(validFirstLine, `2026-03-01T09:00:00Z`, `yesterday`, 1)}, 1, trace.RulePattern, "at"},
		{"bad user key", []string{strings.Replace(validFirstLine, `"user-0001"`, `"alice"`, 1)}, 1, trace.RulePattern, "user"},
		{"bad conversation key", []string{strings.Replace(validFirstLine, `c-0001-01`, `conv-1`, 1)}, 1, trace.RulePattern, "conversation"},
		{"conversation of another user", []string{strings.Replace(validFirstLine, `c-0001-01`, `c-0002-01`, 1)}, 1, trace.RuleOwner, "c-0002-01"},
		{"unknown role", []string{strings.Replace(validFirstLine, `"role": "user"`, `"role": "system"`, 1)}, 1, trace.RuleOneOf, "role"},
		{"seq repeats", []string{validFirstLine, validFirstLine}, 2, trace.RuleOrder, "seq 1"},
		{"time goes back", []string{strings.Replace(validFirstLine, `09:00:00`, `10:00:00`, 1),
			strings.Replace(validFirstLine, `"seq": 1`, `"seq": 2`, 1)}, 2, trace.RuleOrder, "earlier"},
		{"tool calls on a user line", []string{validFirstLine, strings.Replace(added, `"assistant"`, `"user"`, 1)}, 2, trace.RuleToolCalls, "assistant lines"},
		{"empty tool calls", []string{validFirstLine, added[:strings.Index(added, `[`)] + `[]}`}, 2, trace.RuleToolCalls, "empty"},
		{"unknown tool", []string{validFirstLine, strings.Replace(added, `add_task`, `rename_task`, 1)}, 2, trace.RuleOneOf, "rename_task"},
		{"add without title", []string{validFirstLine, strings.Replace(added, `, "title": "milk"`, ``, 1)}, 2, trace.RuleRequired, "title"},
		{"update without fields", []string{validFirstLine, added, strings.Replace(deleted, `delete_task`, `update_task`, 1)}, 3, trace.RuleRequired, "update_task"},
		{"complete with a title", []string{validFirstLine, added,
			strings.Replace(deleted, `delete_task", "arguments": {"task": "t-0001-0001"`, `complete_task", "arguments": {"task": "t-0001-0001", "title": "x"`, 1)},
			3, trace.RuleUnknownField, "complete_task"},
		{"task of another user", []string{validFirstLine, strings.Replace(added, `t-0001-0001`, `t-0002-0001`, 1)}, 2, trace.RuleOwner, "t-0002-0001"},
		{"task added twice", []string{validFirstLine, added, strings.Replace(added, `"seq": 2`, `"seq": 3`, 1)}, 3, trace.RuleNewKey, "line 2"},
		{"task never added", []string{validFirstLine, deleted}, 2, trace.RuleLiveKey, "no earlier line"},
		{"task used after delete", []string{validFirstLine, added, deleted, strings.Replace(deleted, `"seq": 3`, `"seq": 4`, 1)}, 4, trace.RuleLiveKey, "line 3 deleted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := trace.Read(strings.NewReader(strings.Join(c.lines, "\n") + "\n"))
			var lineErr *trace.LineError
			require.True(t, errors.As(err, &lineErr), "got %v", err)
			require.Equal(t, c.line, lineErr.Line, "%v", err)
			require.Equal(t, c.rule, lineErr.Rule, "%v", err)
			require.Contains(t, lineErr.Error(), c.detail)
			require.Contains(t, lineErr.Error(), "rule "+c.rule)
		})
	}
}

func TestReadRejectsEmptyTrace(t *testing.T) {
	t.Parallel()
	_, err := trace.Read(strings.NewReader(""))
	require.ErrorContains(t, err, "no lines")
}

// TestReadRecordedTraces reads the shared traces and checks the counts the
// data set documents.
func TestReadRecordedTraces(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file                   string
		lines, users, commands int
	}{
		{"chat-trace-small.jsonl", 2967, 20, 2967 + 702},
		{"chat-trace.jsonl", 20014, 200, 20014 + 4149},
	} {
		path := sharedDataFile(t, c.file)
		parsed, err := trace.ReadFile(path)
		require.NoError(t, err)
		require.Len(t, parsed.Lines, c.lines, c.file)
		require.Len(t, parsed.Users(), c.users, c.file)
		require.Equal(t, c.commands, parsed.Commands(), c.file)
		require.Len(t, parsed.Digest, 64, c.file)
	}
}

// sharedDataFile returns the path of a file of the shared trace data, next
// to the repository, and skips the test when it is absent.
func sharedDataFile(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "data", name)
	if _, err := os.Stat(path); err != nil {
		// CI runs with the data beside the clone, so a missing file there
		// would make the model check pass without running.
		if os.Getenv("CI") == "true" {
			t.Fatalf("the trace %s is missing in CI: %v", name, err)
		}
		t.Skipf("the trace %s is not next to the repository (%v); it is test data kept outside the repository", name, err)
	}
	return path
}

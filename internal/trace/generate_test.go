package trace_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/trace"
)

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	first := trace.Generate(trace.GenerateConfig{Users: 5, Seed: 7})
	second := trace.Generate(trace.GenerateConfig{Users: 5, Seed: 7})
	require.Equal(t, first, second)
	other := trace.Generate(trace.GenerateConfig{Users: 5, Seed: 8})
	require.NotEqual(t, first.Lines, other.Lines)
}

// A generated trace must pass every rule Read checks, survive a round trip
// through the file format, and carry every kind of tool call.
func TestGenerateFollowsTheFormat(t *testing.T) {
	t.Parallel()
	generated := trace.Generate(trace.GenerateConfig{})
	var file bytes.Buffer
	require.NoError(t, generated.Write(&file))
	read, err := trace.Read(&file)
	require.NoError(t, err)
	require.Equal(t, generated.Lines, read.Lines)
	require.Len(t, read.Users(), 20)

	calls := map[string]int{}
	multiLine := 0
	for _, l := range read.Lines {
		for _, call := range l.ToolCalls {
			calls[call.Name]++
		}
		if bytes.ContainsRune([]byte(l.Content), '\n') {
			multiLine++
		}
	}
	for _, name := range []string{trace.ToolAddTask, trace.ToolUpdateTask, trace.ToolCompleteTask, trace.ToolReopenTask, trace.ToolDeleteTask} {
		require.Positive(t, calls[name], name)
	}
	require.Positive(t, multiLine)
}

package events

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A literal that contains a placeholder or quotes stays as it is: the
// query is scanned once, so one argument can never change another.
func TestInlineArgsScansQueryOnce(t *testing.T) {
	query, err := inlineArgs(`SELECT $1, $2, $10`,
		[]any{"alice", `I owe you $1 and 'two' \ three`, 3, 4, 5, 6, 7, 8, 9, int64(10)})
	require.NoError(t, err)
	require.Equal(t, `SELECT 'alice',  E'I owe you $1 and ''two'' \\ three', 10`, query)
}

func TestInlineArgsRejectsNULAndMissingArgument(t *testing.T) {
	_, err := inlineArgs(`SELECT $1`, []any{"a\x00b"})
	require.ErrorIs(t, err, ErrInvalid)

	_, err = inlineArgs(`SELECT $2`, []any{"only one"})
	require.ErrorContains(t, err, "names $2 but has 1 arguments")
}

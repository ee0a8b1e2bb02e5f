package commands

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHasLoneSurrogate(t *testing.T) {
	cases := map[string]bool{
		`{"title": "plain"}`:                  false,
		`{"title": "pair \ud83d\ude00 ok"}`:   false,
		`{"title": "\u00e9 and \u2028"}`:      false,
		`{"title": "escaped \\ud800 text"}`:   false,
		`{"title": "quote \" then \ud800"}`:   true,
		`{"title": "lone high \ud800"}`:       true,
		`{"title": "lone low \udc00"}`:        true,
		`{"title": "high then x \ud800x"}`:    true,
		`{"title": "two highs \ud800\ud800"}`: true,
		`{"title": "at the end \ud83d"}`:      true,
	}
	for input, want := range cases {
		require.Equal(t, want, hasLoneSurrogate([]byte(input)), input)
	}
}

func TestDecodeRejectsLoneSurrogate(t *testing.T) {
	_, err := Decode(NameAddTask, []byte(`{"user_id": "u1", "title": "milk \udfff"}`))
	require.ErrorIs(t, err, ErrInvalid)
	problems := ValidationErrors(err)
	require.Len(t, problems, 1)
	require.Equal(t, "title", problems[0].Field)
	require.Equal(t, RuleUTF8, problems[0].Rule)
}

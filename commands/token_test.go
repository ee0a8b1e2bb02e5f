package commands_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
)

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, cursor := range []events.Cursor{
		{},
		{TransactionID: 748, Position: 12},
		{TransactionID: math.MaxUint64, Position: math.MaxInt64},
	} {
		token := commands.EncodeToken(cursor)
		parsed, err := commands.ParseToken(token)
		require.NoError(t, err, token)
		require.Equal(t, cursor, parsed)
	}
	require.Equal(t, "748.12", commands.EncodeToken(events.Cursor{TransactionID: 748, Position: 12}))
}

func TestParseTokenRejectsOtherForms(t *testing.T) {
	t.Parallel()
	for _, token := range []string{
		"", ".", "748", "748.", ".12", "748.12.3", "+748.12", "748.+12", "748.-12", "-1.12",
		"0748.12", "748.012", " 748.12", "748.12 ", "a.b", "748,12", "18446744073709551616.1",
	} {
		_, err := commands.ParseToken(token)
		require.ErrorIs(t, err, commands.ErrInvalidToken, "token %q", token)
	}
}

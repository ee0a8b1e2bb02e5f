package events_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
)

// randomString mixes ASCII, control characters, quotes, backslashes and
// multi-byte characters, everything jsonb escapes or keeps.
func randomString(r *rand.Rand) string {
	alphabet := []rune("ab Z09\"\\/\b\f\n\r\t\x01\x1f\x7f’é日本😀\u2028<>&")
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randomValue(r *rand.Rand, depth int) any {
	switch kind := r.IntN(7); {
	case kind == 0 && depth < 3:
		object := map[string]any{}
		for range r.IntN(5) {
			object[randomString(r)] = randomValue(r, depth+1)
		}
		return object
	case kind == 1 && depth < 3:
		array := []any{}
		for range r.IntN(4) {
			array = append(array, randomValue(r, depth+1))
		}
		return array
	case kind == 2:
		return r.Int64N(1<<62) - 1<<61
	case kind == 3:
		return r.IntN(2) == 0
	case kind == 4:
		return nil
	default:
		return randomString(r)
	}
}

func TestCanonicalJSONMatchesPostgreSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.URL())
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		document, err := json.Marshal(map[string]any{"value": randomValue(r, 0), "k" + randomString(r): i})
		require.NoError(t, err)
		var fromPostgres string
		require.NoError(t, db.QueryRow(`SELECT $1::jsonb::text`, string(document)).Scan(&fromPostgres))

		canonical, err := events.CanonicalJSON(document)
		require.NoError(t, err)
		require.Equal(t, fromPostgres, string(canonical), "document %s", document)

		// PostgreSQL's own output is a fixed point.
		again, err := events.CanonicalJSON([]byte(fromPostgres))
		require.NoError(t, err)
		require.Equal(t, fromPostgres, string(again))
	}
}

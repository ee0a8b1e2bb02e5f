package pgtest_test

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// With TODOLOG_TEST_PGBOUNCER=1 the URLs lead through PgBouncer, whose
// port differs from the server's; otherwise straight to the server.
func TestURLsLeadThroughPoolerWhenPooled(t *testing.T) {
	for name, databaseURL := range map[string]string{
		"package":  pgtest.URL(),
		"new":      pgtest.NewDatabase(t, true),
		"app role": pgtest.AppURL(t, pgtest.URL()),
	} {
		u, err := url.Parse(databaseURL)
		require.NoError(t, err)
		var serverPort int
		require.NoError(t, pgtest.Open(t, databaseURL).QueryRow(`SELECT inet_server_port()`).Scan(&serverPort))
		if pgtest.Pooled() {
			require.NotEqual(t, strconv.Itoa(serverPort), u.Port(), "%s URL must lead through PgBouncer", name)
		} else {
			require.Equal(t, strconv.Itoa(serverPort), u.Port(), "%s URL must lead to the server", name)
		}

		direct, err := url.Parse(pgtest.DirectURL(databaseURL))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(serverPort), direct.Port(), "DirectURL of the %s URL", name)
	}
}

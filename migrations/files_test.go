package migrations_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/migrations"
)

// Every file must run in one transaction: PostgreSQL runs a multi-statement
// file as one implicit transaction, and a statement that cannot run inside
// one (CREATE INDEX CONCURRENTLY) works only as the file's sole statement.
func TestMigrationFilesAreTransactional(t *testing.T) {
	list, err := migrations.ListFiles(migrations.FS())
	require.NoError(t, err)
	require.NotEmpty(t, list)
	for _, f := range list {
		content, err := migrations.ReadFile(migrations.FS(), f)
		require.NoError(t, err)
		require.Empty(t, migrations.TransactionControlStatements(content),
			"%s must not open or close transactions itself", f.Path)
		if nonTransactional := migrations.NonTransactionalStatements(content); len(nonTransactional) > 0 {
			require.Len(t, migrations.SplitStatements(content), 1,
				"%s: %q cannot run in a transaction, so it must stand alone in its file", f.Path, nonTransactional[0])
		}
	}
}

func TestEveryMigrationHasUpAndDown(t *testing.T) {
	list, err := migrations.ListFiles(migrations.FS())
	require.NoError(t, err)
	directions := map[uint][]string{}
	for _, f := range list {
		directions[f.Version] = append(directions[f.Version], f.Direction)
	}
	for version, found := range directions {
		require.Equal(t, []string{"up", "down"}, found, "version %d", version)
	}
}

func TestSplitStatements(t *testing.T) {
	sql := `-- a comment; with a semicolon
CREATE TABLE a (b text DEFAULT 'x;y');
/* block /* nested; */ still comment; */
CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM 1; PERFORM 2;
END
$body$;
SELECT E'it\'s; here', "odd;name" FROM a;
CREATE INDEX CONCURRENTLY a_b ON a (b)`
	statements := migrations.SplitStatements(sql)
	require.Len(t, statements, 4)
	require.Contains(t, statements[1], "PERFORM 2;")
	require.Equal(t, []string{"CREATE INDEX CONCURRENTLY a_b ON a (b)"}, migrations.NonTransactionalStatements(sql))
	require.Empty(t, migrations.TransactionControlStatements(sql))
	require.Len(t, migrations.TransactionControlStatements("BEGIN; SELECT 1; COMMIT;"), 2)
}

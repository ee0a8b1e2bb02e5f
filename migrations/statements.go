package migrations

import (
	"regexp"
	"strings"
)

// SplitStatements splits SQL text into statements at top-level semicolons,
// skipping comments, quoted strings, quoted identifiers and dollar-quoted
// bodies. Comments are removed and each statement is trimmed; empty
// statements are dropped.
func SplitStatements(sql string) []string {
	var statements []string
	var current strings.Builder
	flush := func() {
		if s := strings.TrimSpace(current.String()); s != "" {
			statements = append(statements, s)
		}
		current.Reset()
	}

	for i := 0; i < len(sql); {
		switch {
		case strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				i = len(sql)
			} else {
				i += end
			}
		case strings.HasPrefix(sql[i:], "/*"):
			// Block comments nest in PostgreSQL.
			depth := 0
			for i < len(sql) {
				if strings.HasPrefix(sql[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(sql[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			current.WriteByte(' ')
		case sql[i] == '\'' || sql[i] == '"':
			end := quotedEnd(sql, i)
			current.WriteString(sql[i:end])
			i = end
		case sql[i] == '$':
			if tag := dollarTag(sql[i:]); tag != "" {
				end := strings.Index(sql[i+len(tag):], tag)
				if end < 0 {
					end = len(sql)
				} else {
					end = i + len(tag) + end + len(tag)
				}
				current.WriteString(sql[i:end])
				i = end
				continue
			}
			current.WriteByte(sql[i])
			i++
		case sql[i] == ';':
			flush()
			i++
		default:
			current.WriteByte(sql[i])
			i++
		}
	}
	flush()
	return statements
}

// quotedEnd returns the index just past the quoted string or identifier that
// starts at start. A doubled quote character stands for itself; backslash
// escapes apply to E'...' strings.
func quotedEnd(sql string, start int) int {
	quote := sql[start]
	escapes := quote == '\'' && start > 0 && (sql[start-1] == 'E' || sql[start-1] == 'e')
	for i := start + 1; i < len(sql); i++ {
		switch {
		case escapes && sql[i] == '\\':
			i++
		case sql[i] == quote && i+1 < len(sql) && sql[i+1] == quote:
			i++
		case sql[i] == quote:
			return i + 1
		}
	}
	return len(sql)
}

var dollarTagPattern = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

func dollarTag(s string) string {
	return dollarTagPattern.FindString(s)
}

var (
	nonTransactionalPattern = regexp.MustCompile(`(?is)^(` +
		`(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY` +
		`|REINDEX\s.*CONCURRENTLY` +
		`|VACUUM\b` +
		`|(CREATE|DROP)\s+(DATABASE|TABLESPACE)\b` +
		`|ALTER\s+SYSTEM\b` +
		`|DETACH\s+PARTITION.*CONCURRENTLY` +
		`|ALTER\s+TABLE\s.*DETACH\s+PARTITION\s.*CONCURRENTLY` +
		`)`)
	transactionControlPattern = regexp.MustCompile(`(?i)^(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|END|SAVEPOINT|RELEASE|ABORT)\b`)
)

// NonTransactionalStatements returns the statements of sql that PostgreSQL
// refuses to run inside a transaction block.
func NonTransactionalStatements(sql string) []string {
	var found []string
	for _, s := range SplitStatements(sql) {
		if nonTransactionalPattern.MatchString(s) {
			found = append(found, s)
		}
	}
	return found
}

// TransactionControlStatements returns the statements of sql that open or
// close transactions, which would break the one-transaction-per-file rule.
func TransactionControlStatements(sql string) []string {
	var found []string
	for _, s := range SplitStatements(sql) {
		if transactionControlPattern.MatchString(s) {
			found = append(found, s)
		}
	}
	return found
}

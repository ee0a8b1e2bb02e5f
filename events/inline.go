package events

import (
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// placeholder matches $1, $2, … in a query.
var placeholder = regexp.MustCompile(`\$[0-9]+`)

// inlineArgs returns query with each placeholder $1 … $n replaced by args
// as an SQL literal, so the query can travel in a simple-protocol message
// together with other statements. Strings are quoted with pq.QuoteLiteral;
// a NUL byte, which the message format cannot carry, is an error. The
// query is scanned once, so a literal that contains "$1" stays as it is.
// The query itself must not contain $n inside its own literals or
// comments.
func inlineArgs(query string, args []any) (string, error) {
	literals := make([]string, len(args))
	for i, arg := range args {
		literal, err := sqlLiteral(arg)
		if err != nil {
			return "", fmt.Errorf("argument $%d: %w", i+1, err)
		}
		literals[i] = literal
	}
	var missing error
	inlined := placeholder.ReplaceAllStringFunc(query, func(token string) string {
		n, err := strconv.Atoi(token[1:])
		if err != nil || n < 1 || n > len(literals) {
			missing = fmt.Errorf("the query names %s but has %d arguments", token, len(literals))
			return token
		}
		return literals[n-1]
	})
	return inlined, missing
}

// sqlLiteral returns v, a query argument, as an SQL literal.
func sqlLiteral(v any) (string, error) {
	if valuer, ok := v.(driver.Valuer); ok {
		value, err := valuer.Value()
		if err != nil {
			return "", err
		}
		v = value
	}
	switch v := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		return quoteText(v)
	case []byte:
		return quoteText(string(v))
	case int:
		return strconv.Itoa(v), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case bool:
		return strconv.FormatBool(v), nil
	case time.Time:
		return quoteText(v.Format(time.RFC3339Nano))
	default:
		return "", fmt.Errorf("%T cannot be written as an SQL literal", v)
	}
}

func quoteText(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("%w: text contains a NUL byte, which PostgreSQL cannot store", ErrInvalid)
	}
	return pq.QuoteLiteral(s), nil
}

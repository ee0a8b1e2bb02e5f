package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/todolog/todolog/events"
)

// ErrInvalidToken means a string is not a consistency token.
var ErrInvalidToken = errors.New("invalid consistency token")

// EncodeToken returns the consistency token of the event at cursor:
// "<transaction id>.<position>". Projections read the log in that order, so
// a projection has applied the event once its checkpoint is at or past the
// cursor.
func EncodeToken(cursor events.Cursor) string {
	return strconv.FormatUint(cursor.TransactionID, 10) + "." + strconv.FormatInt(cursor.Position, 10)
}

// ParseToken returns the cursor an EncodeToken string names. It accepts only
// the exact form EncodeToken writes, so one cursor has one token.
func ParseToken(token string) (events.Cursor, error) {
	xid, position, found := strings.Cut(token, ".")
	if !found {
		return events.Cursor{}, tokenError(token)
	}
	var cursor events.Cursor
	var err error
	if cursor.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return events.Cursor{}, tokenError(token)
	}
	if cursor.Position, err = strconv.ParseInt(position, 10, 64); err != nil || cursor.Position < 0 {
		return events.Cursor{}, tokenError(token)
	}
	if EncodeToken(cursor) != token {
		return events.Cursor{}, tokenError(token)
	}
	return cursor, nil
}

func tokenError(token string) error {
	return fmt.Errorf("%w %q: expected <transaction id>.<position>, two decimal numbers without signs or leading zeros",
		ErrInvalidToken, truncate(token, 64))
}

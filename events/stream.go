package events

import (
	"fmt"
	"regexp"
)

// Stream types. A stream is one task or one conversation of one user.
const (
	StreamTask         = "task"
	StreamConversation = "conversation"
)

// Stream identifies the entity an event belongs to, such as task 42.
type Stream struct {
	Type string
	ID   int64
}

// TaskStream returns the stream of task id.
func TaskStream(id int64) Stream { return Stream{Type: StreamTask, ID: id} }

// ConversationStream returns the stream of conversation id.
func ConversationStream(id int64) Stream { return Stream{Type: StreamConversation, ID: id} }

func (s Stream) String() string { return fmt.Sprintf("%s/%d", s.Type, s.ID) }

// UserIDPattern is the rule every user id follows: 1 to 128 characters,
// letters, digits and . _ : @ -, starting with a letter or digit. The events
// table enforces the same rule with a CHECK constraint.
const UserIDPattern = `^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`

var userIDRegexp = regexp.MustCompile(UserIDPattern)

// CheckUserID returns an error naming the rule when id is not a valid user id.
func CheckUserID(id string) error {
	if !userIDRegexp.MatchString(id) {
		return fmt.Errorf("%w: user id %q must be 1 to 128 letters, digits or . _ : @ -, starting with a letter or digit",
			ErrInvalid, truncate(id, 64))
	}
	return nil
}

// CommandIDPattern is the rule for command ids (idempotency keys): 1 to 128
// printable ASCII characters without spaces.
const CommandIDPattern = `^[\x21-\x7e]{1,128}$`

var commandIDRegexp = regexp.MustCompile(CommandIDPattern)

// CheckCommandID returns an error naming the rule when id is not a valid
// command id.
func CheckCommandID(id string) error {
	if !commandIDRegexp.MatchString(id) {
		return fmt.Errorf("%w: command id %q must be 1 to 128 printable ASCII characters without spaces",
			ErrInvalid, truncate(id, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package commands

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Message roles, as in chat-completion APIs.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
	RoleTool      = "tool"
)

// roles lists the roles a message may have.
var roles = []string{RoleUser, RoleAssistant, RoleSystem, RoleTool}

// StartConversation creates a conversation and returns its id.
type StartConversation struct {
	Header
}

// AppendMessage adds one message to a conversation and returns the message
// id. Without a conversation id (0) it starts a new conversation and appends
// the message to it in the same write.
type AppendMessage struct {
	Header
	ConversationID int64  `json:"conversation_id,omitempty"`
	Role           string `json:"role"`
	Content        string `json:"content"`
}

// CommandName returns "StartConversation".
func (StartConversation) CommandName() string { return NameStartConversation }

// CommandName returns "AppendMessage".
func (AppendMessage) CommandName() string { return NameAppendMessage }

// Validate checks the header and that an expected version, if given, is 0.
func (c StartConversation) Validate() error {
	problems := c.Header.validate(NameStartConversation)
	if err := checkNewStream(NameStartConversation, c.Header); err != nil {
		problems = append(problems, err)
	}
	return joinProblems(problems)
}

// Validate checks the conversation id when given (else that an expected
// version, if given, is 0), the role (user, assistant, system or tool) and
// the content (1 to MaxContentLength characters, stored as given).
func (c AppendMessage) Validate() error {
	problems := c.Header.validate(NameAppendMessage)
	if c.ConversationID != 0 {
		if err := checkID(NameAppendMessage, "conversation_id", c.ConversationID); err != nil {
			problems = append(problems, err)
		}
	} else if err := checkNewStream(NameAppendMessage, c.Header); err != nil {
		problems = append(problems, err)
	}
	if err := checkRole(c.Role); err != nil {
		problems = append(problems, err)
	}
	if err := checkLength(NameAppendMessage, "content", c.Content, true, MaxContentLength); err != nil {
		problems = append(problems, err)
	}
	return joinProblems(problems)
}

func checkRole(role string) error {
	if err := checkText(NameAppendMessage, "role", role); err != nil {
		return err
	}
	if role == "" {
		return invalid(NameAppendMessage, "role", RuleRequired, "must be one of "+strings.Join(roles, ", "))
	}
	if !slices.Contains(roles, role) {
		return invalid(NameAppendMessage, "role", RuleOneOf,
			fmt.Sprintf("must be one of %s, got %q", strings.Join(roles, ", "), truncate(role, 32)))
	}
	return nil
}

// truncate shortens s to n bytes for an error message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

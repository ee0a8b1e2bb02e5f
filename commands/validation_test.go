package commands_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
)

const validUser = "user-1"

func header() commands.Header { return commands.Header{UserID: validUser} }

func headerWith(change func(*commands.Header)) commands.Header {
	h := header()
	change(&h)
	return h
}

type invalidCase struct {
	name  string
	cmd   commands.Command
	field string
	rule  string
}

// invalidCommands lists one command per input rule, each breaking only
// that rule. The database tests run them through the Handler too.
func invalidCommands() []invalidCase {
	const invalidUTF8 = "ab\xffcd"
	withNUL := "ab\x00cd"
	addTask := func(change func(*commands.AddTask)) commands.AddTask {
		c := commands.AddTask{Header: header(), Title: "milk"}
		change(&c)
		return c
	}
	appendMessage := func(change func(*commands.AppendMessage)) commands.AppendMessage {
		c := commands.AppendMessage{Header: header(), ConversationID: 1, Role: commands.RoleUser, Content: "hi"}
		change(&c)
		return c
	}
	return []invalidCase{
		{"empty user id", addTask(func(c *commands.AddTask) { c.UserID = "" }), "user_id", commands.RuleRequired},
		{"user id with space", addTask(func(c *commands.AddTask) { c.UserID = "a b" }), "user_id", commands.RulePattern},
		{"user id too long", addTask(func(c *commands.AddTask) { c.UserID = strings.Repeat("a", 129) }), "user_id", commands.RulePattern},
		{"user id with NUL", addTask(func(c *commands.AddTask) { c.UserID = withNUL }), "user_id", commands.RuleNUL},
		{"user id invalid UTF-8", addTask(func(c *commands.AddTask) { c.UserID = invalidUTF8 }), "user_id", commands.RuleUTF8},
		{"command id with space", addTask(func(c *commands.AddTask) { c.CommandID = "a b" }), "command_id", commands.RulePattern},
		{"command id with NUL", addTask(func(c *commands.AddTask) { c.CommandID = withNUL }), "command_id", commands.RuleNUL},
		{"command id invalid UTF-8", addTask(func(c *commands.AddTask) { c.CommandID = invalidUTF8 }), "command_id", commands.RuleUTF8},
		{"command id too long", addTask(func(c *commands.AddTask) { c.CommandID = strings.Repeat("k", 129) }), "command_id", commands.RulePattern},
		{"negative expected version", commands.CompleteTask{Header: headerWith(func(h *commands.Header) { h.ExpectedVersion = ptr(-1) }), TaskID: 1}, "expected_version", commands.RuleNonNegative},
		{"AddTask expecting version 2", addTask(func(c *commands.AddTask) { c.ExpectedVersion = ptr(2) }), "expected_version", commands.RuleNewStream},
		{"correlation id with NUL", addTask(func(c *commands.AddTask) { c.CorrelationID = withNUL }), "correlation_id", commands.RuleNUL},
		{"causation id invalid UTF-8", addTask(func(c *commands.AddTask) { c.CausationID = invalidUTF8 }), "causation_id", commands.RuleUTF8},
		{"actor too long", addTask(func(c *commands.AddTask) { c.Actor = strings.Repeat("a", commands.MaxMetadataLength+1) }), "actor", commands.RuleLength},

		{"empty title", addTask(func(c *commands.AddTask) { c.Title = "" }), "title", commands.RuleRequired},
		{"whitespace title", addTask(func(c *commands.AddTask) { c.Title = " \t\n " }), "title", commands.RuleRequired},
		{"201-character multi-byte title", addTask(func(c *commands.AddTask) { c.Title = strings.Repeat("日", 201) }), "title", commands.RuleLength},
		{"title with NUL", addTask(func(c *commands.AddTask) { c.Title = withNUL }), "title", commands.RuleNUL},
		{"title invalid UTF-8", addTask(func(c *commands.AddTask) { c.Title = invalidUTF8 }), "title", commands.RuleUTF8},
		{"2001-character description", addTask(func(c *commands.AddTask) { c.Description = strings.Repeat("é", 2001) }), "description", commands.RuleLength},
		{"description with NUL", addTask(func(c *commands.AddTask) { c.Description = withNUL }), "description", commands.RuleNUL},
		{"description invalid UTF-8", addTask(func(c *commands.AddTask) { c.Description = invalidUTF8 }), "description", commands.RuleUTF8},

		{"update without fields", commands.UpdateTask{Header: header(), TaskID: 1}, "title,description", commands.RuleAtLeastOne},
		{"update with zero task id", commands.UpdateTask{Header: header(), Title: ptr("a")}, "task_id", commands.RulePositive},
		{"update with empty title", commands.UpdateTask{Header: header(), TaskID: 1, Title: ptr("  ")}, "title", commands.RuleRequired},
		{"update title with NUL", commands.UpdateTask{Header: header(), TaskID: 1, Title: ptr(withNUL)}, "title", commands.RuleNUL},
		{"update description with NUL", commands.UpdateTask{Header: header(), TaskID: 1, Description: ptr(withNUL)}, "description", commands.RuleNUL},
		{"update description too long", commands.UpdateTask{Header: header(), TaskID: 1, Description: ptr(strings.Repeat("x", 2001))}, "description", commands.RuleLength},
		{"complete negative task id", commands.CompleteTask{Header: header(), TaskID: -1}, "task_id", commands.RulePositive},
		{"reopen zero task id", commands.ReopenTask{Header: header()}, "task_id", commands.RulePositive},
		{"delete zero task id", commands.DeleteTask{Header: header()}, "task_id", commands.RulePositive},

		{"StartConversation expecting version 1", commands.StartConversation{Header: headerWith(func(h *commands.Header) { h.ExpectedVersion = ptr(1) })}, "expected_version", commands.RuleNewStream},
		{"StartConversation without user", commands.StartConversation{}, "user_id", commands.RuleRequired},
		{"negative conversation id", appendMessage(func(c *commands.AppendMessage) { c.ConversationID = -3 }), "conversation_id", commands.RulePositive},
		{"new conversation expecting version 1", appendMessage(func(c *commands.AppendMessage) { c.ConversationID = 0; c.ExpectedVersion = ptr(1) }), "expected_version", commands.RuleNewStream},
		{"empty role", appendMessage(func(c *commands.AppendMessage) { c.Role = "" }), "role", commands.RuleRequired},
		{"unknown role", appendMessage(func(c *commands.AppendMessage) { c.Role = "admin" }), "role", commands.RuleOneOf},
		{"role in capitals", appendMessage(func(c *commands.AppendMessage) { c.Role = "User" }), "role", commands.RuleOneOf},
		{"role with NUL", appendMessage(func(c *commands.AppendMessage) { c.Role = "user\x00" }), "role", commands.RuleNUL},
		{"empty content", appendMessage(func(c *commands.AppendMessage) { c.Content = "" }), "content", commands.RuleRequired},
		{"content too long", appendMessage(func(c *commands.AppendMessage) { c.Content = strings.Repeat("ü", commands.MaxContentLength+1) }), "content", commands.RuleLength},
		{"content with NUL", appendMessage(func(c *commands.AppendMessage) { c.Content = withNUL }), "content", commands.RuleNUL},
		{"content invalid UTF-8", appendMessage(func(c *commands.AppendMessage) { c.Content = invalidUTF8 }), "content", commands.RuleUTF8},
	}
}

func TestValidateReportsFieldAndRule(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidCommands() {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cmd.Validate()
			require.ErrorIs(t, err, commands.ErrInvalid)
			problems := commands.ValidationErrors(err)
			require.Len(t, problems, 1, "problems: %v", err)
			require.Equal(t, tc.field, problems[0].Field)
			require.Equal(t, tc.rule, problems[0].Rule)
			require.Equal(t, tc.cmd.CommandName(), problems[0].Command)
			require.Contains(t, err.Error(), tc.field)
		})
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	t.Parallel()
	valid := []commands.Command{
		commands.AddTask{Header: header(), Title: strings.Repeat("日", 200)},
		commands.AddTask{Header: header(), Title: "  " + strings.Repeat("ß", 200) + "\t"},
		commands.AddTask{Header: header(), Title: "x", Description: strings.Repeat("é", 2000)},
		commands.AddTask{Header: headerWith(func(h *commands.Header) { h.ExpectedVersion = ptr(0) }), Title: "x"},
		commands.UpdateTask{Header: header(), TaskID: 1, Description: ptr("")},
		commands.CompleteTask{Header: headerWith(func(h *commands.Header) { h.ExpectedVersion = ptr(0) }), TaskID: 9},
		commands.StartConversation{Header: headerWith(func(h *commands.Header) {
			h.CommandID = strings.Repeat("~", 128)
			h.Actor = strings.Repeat("a", commands.MaxMetadataLength)
		})},
		commands.AppendMessage{Header: header(), Role: commands.RoleTool, Content: strings.Repeat("ü", commands.MaxContentLength)},
		commands.AppendMessage{Header: headerWith(func(h *commands.Header) { h.ExpectedVersion = ptr(7) }),
			ConversationID: 3, Role: commands.RoleAssistant, Content: " "},
		commands.AddTask{Header: commands.Header{UserID: strings.Repeat("a", 128)}, Title: "x"},
	}
	for i, cmd := range valid {
		require.NoError(t, cmd.Validate(), "command %d: %+v", i, cmd)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	cmd := commands.UpdateTask{
		Header:      commands.Header{UserID: "", CommandID: "a b"},
		TaskID:      0,
		Title:       ptr(strings.Repeat("t", 201)),
		Description: ptr("\x00"),
	}
	err := cmd.Validate()
	require.ErrorIs(t, err, commands.ErrInvalid)

	var fields []string
	for _, problem := range commands.ValidationErrors(err) {
		fields = append(fields, problem.Field)
	}
	require.Equal(t, []string{"user_id", "command_id", "task_id", "title", "description"}, fields)

	var first *commands.ValidationError
	require.True(t, errors.As(err, &first))
	require.Equal(t, "user_id", first.Field)
}

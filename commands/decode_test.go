package commands_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
)

func TestDecodeReadsEveryCommand(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		commands.NameAddTask:           `{"user_id":"u1","command_id":"c1","title":"milk","description":"2 l"}`,
		commands.NameUpdateTask:        `{"user_id":"u1","task_id":4,"title":"bread","expected_version":2}`,
		commands.NameCompleteTask:      `{"user_id":"u1","task_id":4}`,
		commands.NameReopenTask:        `{"user_id":"u1","task_id":4}`,
		commands.NameDeleteTask:        `{"user_id":"u1","task_id":4}`,
		commands.NameStartConversation: `{"user_id":"u1","actor":"chat-backend"}`,
		commands.NameAppendMessage:     `{"user_id":"u1","conversation_id":3,"role":"user","content":"hi"}`,
	}
	require.Len(t, bodies, len(commands.Names()))
	for name, body := range bodies {
		cmd, err := commands.Decode(name, []byte(body))
		require.NoError(t, err, name)
		require.Equal(t, name, cmd.CommandName())
		require.Equal(t, "u1", cmd.CommandHeader().UserID)
	}

	cmd, err := commands.Decode(commands.NameUpdateTask, []byte(bodies[commands.NameUpdateTask]))
	require.NoError(t, err)
	require.Equal(t, commands.UpdateTask{
		Header: commands.Header{UserID: "u1", ExpectedVersion: ptr(2)},
		TaskID: 4,
		Title:  ptr("bread"),
	}, cmd)
}

func TestDecodeRejectsBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, command, body, field, rule string
	}{
		{"unknown command", "RenameTask", `{"user_id":"u1"}`, "command", commands.RuleUnknownCommand},
		{"not JSON", commands.NameAddTask, `{"user_id":`, "", commands.RuleJSON},
		{"empty body", commands.NameAddTask, ``, "", commands.RuleJSON},
		{"array body", commands.NameAddTask, `[]`, "", commands.RuleType},
		{"two objects", commands.NameAddTask, `{"user_id":"u1","title":"a"} {}`, "", commands.RuleJSON},
		{"unknown field", commands.NameAddTask, `{"user_id":"u1","title":"a","due":"today"}`, "due", commands.RuleUnknownField},
		{"title as number", commands.NameAddTask, `{"user_id":"u1","title":5}`, "title", commands.RuleType},
		{"task id as string", commands.NameCompleteTask, `{"user_id":"u1","task_id":"4"}`, "task_id", commands.RuleType},
		{"task id as fraction", commands.NameCompleteTask, `{"user_id":"u1","task_id":4.5}`, "task_id", commands.RuleType},
		{"user id as number", commands.NameCompleteTask, `{"user_id":1,"task_id":4}`, "user_id", commands.RuleType},
		{"expected version as string", commands.NameCompleteTask, `{"user_id":"u1","task_id":4,"expected_version":"1"}`, "expected_version", commands.RuleType},
		{"invalid UTF-8 in content", commands.NameAppendMessage, "{\"user_id\":\"u1\",\"role\":\"user\",\"content\":\"a\xffb\"}", "content", commands.RuleUTF8},
		{"invalid UTF-8 in a key", commands.NameAppendMessage, "{\"user_id\":\"u1\",\"a\xff\":1}", "", commands.RuleUTF8},
		{"escaped NUL in title", commands.NameAddTask, `{"user_id":"u1","title":"a\u0000b"}`, "title", commands.RuleNUL},
		{"wrong role", commands.NameAppendMessage, `{"user_id":"u1","role":"bot","content":"hi"}`, "role", commands.RuleOneOf},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := commands.Decode(tc.command, []byte(tc.body))
			require.ErrorIs(t, err, commands.ErrInvalid)
			problems := commands.ValidationErrors(err)
			require.Len(t, problems, 1, "problems: %v", err)
			require.Equal(t, tc.field, problems[0].Field)
			require.Equal(t, tc.rule, problems[0].Rule)
		})
	}
}

func TestDecodeReturnsCommandWithValidationErrors(t *testing.T) {
	t.Parallel()
	cmd, err := commands.Decode(commands.NameAddTask, []byte(`{"user_id":"u1","command_id":"c9","title":""}`))
	require.ErrorIs(t, err, commands.ErrInvalid)
	require.NotNil(t, cmd)
	require.Equal(t, "c9", cmd.CommandHeader().CommandID)
}

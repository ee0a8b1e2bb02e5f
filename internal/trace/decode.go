package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Key forms. The digits of a conversation or task key start with its user's
// number, which is how the format ties keys to users.
var (
	userKeyPattern         = regexp.MustCompile(`^user-([0-9]+)$`)
	conversationKeyPattern = regexp.MustCompile(`^c-([0-9]+)-[0-9]+$`)
	taskKeyPattern         = regexp.MustCompile(`^t-([0-9]+)-[0-9]+$`)
)

// rawLine mirrors Line with pointers, so that a missing key differs from
// an empty value.
type rawLine struct {
	Seq          *int64         `json:"seq"`
	At           *string        `json:"at"`
	User         *string        `json:"user"`
	Conversation *string        `json:"conversation"`
	Role         *string        `json:"role"`
	Content      *string        `json:"content"`
	ToolCalls    *[]rawToolCall `json:"tool_calls"`
}

type rawToolCall struct {
	Name      *string       `json:"name"`
	Arguments *rawArguments `json:"arguments"`
}

type rawArguments struct {
	Task        *string `json:"task"`
	Title       *string `json:"title"`
	Description *string `json:"description"`
}

// decodeLine parses one line of the file on its own, without the rules that
// span lines.
func decodeLine(number int, text []byte) (Line, error) {
	if !utf8.Valid(text) {
		return Line{}, lineErrorf(number, RuleUTF8, "the line is not valid UTF-8")
	}
	if len(bytes.TrimSpace(text)) == 0 {
		return Line{}, lineErrorf(number, RuleJSON, "the line is empty; every line must be one JSON object")
	}
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.DisallowUnknownFields()
	var raw rawLine
	if err := decoder.Decode(&raw); err != nil {
		return Line{}, jsonError(number, err)
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return Line{}, lineErrorf(number, RuleJSON, "unexpected text after the JSON object; put one object on each line")
	}

	line := Line{Number: number}
	if raw.Seq == nil || *raw.Seq < 1 {
		return Line{}, lineErrorf(number, RuleRequired, "seq must be a positive integer")
	}
	line.Seq = *raw.Seq
	for _, field := range []struct {
		name  string
		value *string
		into  *string
	}{
		{"at", raw.At, nil},
		{"user", raw.User, &line.User},
		{"conversation", raw.Conversation, &line.Conversation},
		{"role", raw.Role, &line.Role},
		{"content", raw.Content, &line.Content},
	} {
		if field.value == nil || *field.value == "" {
			return Line{}, lineErrorf(number, RuleRequired, "%s is missing or empty", field.name)
		}
		if field.into != nil {
			*field.into = *field.value
		}
	}
	at, err := time.Parse(time.RFC3339, *raw.At)
	if err != nil {
		return Line{}, lineErrorf(number, RulePattern, "at %q must be an RFC 3339 time such as 2026-03-01T09:00:00Z", truncate(*raw.At, 40))
	}
	line.At = at.UTC()

	user := userKeyPattern.FindStringSubmatch(line.User)
	if user == nil {
		return Line{}, lineErrorf(number, RulePattern, "user %q must be user-NNNN", truncate(line.User, 40))
	}
	conversation := conversationKeyPattern.FindStringSubmatch(line.Conversation)
	if conversation == nil {
		return Line{}, lineErrorf(number, RulePattern, "conversation %q must be c-NNNN-MM", truncate(line.Conversation, 40))
	}
	if conversation[1] != user[1] {
		return Line{}, lineErrorf(number, RuleOwner, "conversation %s does not belong to %s: its number must be %s",
			line.Conversation, line.User, user[1])
	}
	if line.Role != RoleUser && line.Role != RoleAssistant {
		return Line{}, lineErrorf(number, RuleOneOf, "role %q must be user or assistant", truncate(line.Role, 40))
	}

	if raw.ToolCalls != nil {
		if line.Role != RoleAssistant {
			return Line{}, lineErrorf(number, RuleToolCalls, "tool_calls may appear only on assistant lines, not on a %s line", line.Role)
		}
		if len(*raw.ToolCalls) == 0 {
			return Line{}, lineErrorf(number, RuleToolCalls, "tool_calls must not be an empty list; leave the key out instead")
		}
		for i, rawCall := range *raw.ToolCalls {
			call, err := decodeToolCall(number, i, rawCall, user[1])
			if err != nil {
				return Line{}, err
			}
			line.ToolCalls = append(line.ToolCalls, call)
		}
	}
	return line, nil
}

// decodeToolCall checks one tool call's name and arguments; userNumber is
// the digits of the line's user key.
func decodeToolCall(number, index int, raw rawToolCall, userNumber string) (ToolCall, error) {
	field := fmt.Sprintf("tool_calls[%d]", index)
	if raw.Name == nil || *raw.Name == "" {
		return ToolCall{}, lineErrorf(number, RuleRequired, "%s.name is missing or empty", field)
	}
	name := *raw.Name
	if raw.Arguments == nil {
		return ToolCall{}, lineErrorf(number, RuleRequired, "%s.arguments is missing", field)
	}
	args := raw.Arguments
	if args.Task == nil || *args.Task == "" {
		return ToolCall{}, lineErrorf(number, RuleRequired, "%s.arguments.task is missing or empty", field)
	}
	task := taskKeyPattern.FindStringSubmatch(*args.Task)
	if task == nil {
		return ToolCall{}, lineErrorf(number, RulePattern, "%s.arguments.task %q must be t-NNNN-KKKK", field, truncate(*args.Task, 40))
	}
	if task[1] != userNumber {
		return ToolCall{}, lineErrorf(number, RuleOwner, "%s.arguments.task %s belongs to user number %s, not %s",
			field, *args.Task, task[1], userNumber)
	}

	switch name {
	case ToolAddTask:
		if args.Title == nil || strings.TrimSpace(*args.Title) == "" {
			return ToolCall{}, lineErrorf(number, RuleRequired, "%s.arguments.title is missing or blank; add_task needs a title", field)
		}
	case ToolUpdateTask:
		if args.Title == nil && args.Description == nil {
			return ToolCall{}, lineErrorf(number, RuleRequired, "%s.arguments needs a title, a description or both for update_task", field)
		}
	case ToolCompleteTask, ToolReopenTask, ToolDeleteTask:
		if args.Title != nil || args.Description != nil {
			return ToolCall{}, lineErrorf(number, RuleUnknownField, "%s.arguments of %s takes only task", field, name)
		}
	default:
		return ToolCall{}, lineErrorf(number, RuleOneOf, "%s.name %q must be one of %s, %s, %s, %s, %s", field, truncate(name, 40),
			ToolAddTask, ToolUpdateTask, ToolCompleteTask, ToolReopenTask, ToolDeleteTask)
	}
	return ToolCall{Name: name, Arguments: Arguments{Task: *args.Task, Title: args.Title, Description: args.Description}}, nil
}

// jsonError turns an encoding/json error into a LineError with its rule.
func jsonError(number int, err error) error {
	var syntax *json.SyntaxError
	var typeError *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return lineErrorf(number, RuleJSON, "invalid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typeError):
		return lineErrorf(number, RuleType, "%s must be a JSON %s, got %s", typeError.Field, jsonTypeName(typeError.Type.Kind().String()), typeError.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return lineErrorf(number, RuleUnknownField, "%s; the keys are seq, at, user, conversation, role, content and tool_calls",
			strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return lineErrorf(number, RuleJSON, "the JSON object is incomplete")
	default:
		return lineErrorf(number, RuleJSON, "%v", err)
	}
}

// jsonTypeName names a Go kind as the JSON type that decodes into it.
func jsonTypeName(kind string) string {
	switch kind {
	case "int64":
		return "integer"
	case "ptr", "struct":
		return "object"
	case "slice":
		return "array"
	default:
		return kind
	}
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

package trace

import "fmt"

// Rules a trace line can break, as named in a LineError.
const (
	RuleJSON         = "json"          // the line is not one JSON object
	RuleUTF8         = "utf8"          // the line is not valid UTF-8
	RuleLineLength   = "line_length"   // the line is longer than MaxLineBytes
	RuleUnknownField = "unknown_field" // a key the format does not define
	RuleType         = "type"          // a value of the wrong JSON type
	RuleRequired     = "required"      // a required key is missing or empty
	RulePattern      = "pattern"       // a key or time has the wrong form
	RuleOneOf        = "one_of"        // a role or tool name outside the list
	RuleOrder        = "order"         // seq does not increase, or at decreases
	RuleOwner        = "owner"         // a conversation or task key of another user
	RuleNewKey       = "new_key"       // add_task names a key seen before
	RuleLiveKey      = "live_key"      // a call names a task not added, or deleted
	RuleToolCalls    = "tool_calls"    // tool calls on a user line, or an empty list
)

// LineError is a trace line that breaks a rule of the format.
type LineError struct {
	// Line is the 1-based line number in the file.
	Line int
	// Rule is one of the Rule constants.
	Rule string
	// Detail describes the problem, naming the field and the value.
	Detail string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %s (rule %s)", e.Line, e.Detail, e.Rule)
}

func lineErrorf(line int, rule, format string, args ...any) *LineError {
	return &LineError{Line: line, Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

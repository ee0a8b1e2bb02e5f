package commands

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Input limits, counted in characters (Unicode code points), not bytes.
const (
	MaxTitleLength       = 200
	MaxDescriptionLength = 2_000
	MaxContentLength     = 100_000
	// MaxMetadataLength bounds correlation id, causation id and actor.
	MaxMetadataLength = 256
)

// Rule names, the machine-readable part of a ValidationError.
const (
	RuleRequired       = "required"        // the field is missing or empty
	RuleLength         = "length"          // too many characters
	RuleUTF8           = "utf8"            // the text is not valid UTF-8
	RuleNUL            = "no_nul"          // the text contains a NUL character
	RulePattern        = "pattern"         // the text does not match the field's pattern
	RuleOneOf          = "one_of"          // the value is not one of the allowed ones
	RulePositive       = "positive"        // the id is 0 or negative
	RuleNonNegative    = "non_negative"    // the number is negative
	RuleAtLeastOne     = "at_least_one"    // none of the optional fields is set
	RuleNewStream      = "new_stream"      // an expected version above 0 for a stream not yet created
	RuleType           = "type"            // the JSON value has the wrong type
	RuleUnknownField   = "unknown_field"   // the JSON object has a field the command lacks
	RuleUnknownCommand = "unknown_command" // no command has that name
	RuleJSON           = "json"            // the body is not one JSON object
)

// ValidationError is one problem with a command's input, found before any
// database work. It names the field by its JSON name and the rule broken.
type ValidationError struct {
	// Command is the command's name, such as "AddTask".
	Command string
	// Field is the JSON name of the bad field, such as "title"; fields that
	// are only wrong together are listed with commas. It is empty when the
	// JSON body as a whole is bad.
	Field string
	// Rule is one of the Rule constants.
	Rule string
	// Detail is the rule in words for people, such as "must be at most 200
	// characters, got 201".
	Detail string
	// Err is the underlying error, when another package found the problem.
	Err error
}

// Error returns the command, the field and the rule in one line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Command != "" {
		b.WriteString(e.Command + ": ")
	}
	if e.Field != "" {
		b.WriteString("invalid " + e.Field + ": ")
	} else {
		b.WriteString("invalid input: ")
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the underlying error, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// ValidationErrors returns every *ValidationError in err's tree, in order,
// so a transport can report all of them.
func ValidationErrors(err error) []*ValidationError {
	var found []*ValidationError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if v, ok := err.(*ValidationError); ok {
			found = append(found, v)
			return
		}
		switch wrapped := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range wrapped.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(wrapped.Unwrap())
		}
	}
	walk(err)
	return found
}

func invalid(command, field, rule, detail string) *ValidationError {
	return &ValidationError{Command: command, Field: field, Rule: rule, Detail: detail}
}

func invalidf(command, field, rule, format string, args ...any) *ValidationError {
	return invalid(command, field, rule, fmt.Sprintf(format, args...))
}

// joinProblems returns nil for no problems, else every problem joined.
func joinProblems(problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.Join(problems...)
}

// checkText rejects invalid UTF-8 and NUL characters, which PostgreSQL
// text and jsonb cannot store.
func checkText(command, field, value string) error {
	if !utf8.ValidString(value) {
		return invalid(command, field, RuleUTF8, "must be valid UTF-8")
	}
	if strings.IndexByte(value, 0) >= 0 {
		return invalid(command, field, RuleNUL, "must not contain a NUL character")
	}
	return nil
}

// checkLength checks value as text of at most maxLength characters, which
// must not be empty when required is set.
func checkLength(command, field, value string, required bool, maxLength int) error {
	if err := checkText(command, field, value); err != nil {
		return err
	}
	if required && value == "" {
		return invalid(command, field, RuleRequired, "must not be empty")
	}
	if n := utf8.RuneCountInString(value); n > maxLength {
		return invalidf(command, field, RuleLength, "must be at most %d characters, got %d", maxLength, n)
	}
	return nil
}

// checkTitle checks a task title, which counts without surrounding
// whitespace, as it is stored.
func checkTitle(command, title string) error {
	if err := checkText(command, "title", title); err != nil {
		return err
	}
	trimmed := normalizeTitle(title)
	if trimmed == "" {
		return invalid(command, "title", RuleRequired, "must not be empty or only whitespace")
	}
	if n := utf8.RuneCountInString(trimmed); n > MaxTitleLength {
		return invalidf(command, "title", RuleLength,
			"must be at most %d characters after trimming whitespace, got %d", MaxTitleLength, n)
	}
	return nil
}

// normalizeTitle returns title without leading and trailing whitespace, the
// form stored in the log and compared by DecideUpdateTask.
func normalizeTitle(title string) string { return strings.TrimSpace(title) }

// checkNewStream rejects an expected version above 0 for a command that
// creates its stream, which is at version 0 until the command is handled.
func checkNewStream(command string, header Header) error {
	if header.ExpectedVersion != nil && *header.ExpectedVersion > 0 {
		return invalidf(command, "expected_version", RuleNewStream,
			"must be 0 or absent, because %s creates a new stream, got %d", command, *header.ExpectedVersion)
	}
	return nil
}

// checkID checks a task or conversation id.
func checkID(command, field string, id int64) error {
	if id <= 0 {
		return invalidf(command, field, RulePositive, "must be a positive id, got %d", id)
	}
	return nil
}

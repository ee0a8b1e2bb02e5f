package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// commandTypes maps each command name to its Go type.
var commandTypes = map[string]reflect.Type{
	NameAddTask:           reflect.TypeFor[AddTask](),
	NameUpdateTask:        reflect.TypeFor[UpdateTask](),
	NameCompleteTask:      reflect.TypeFor[CompleteTask](),
	NameReopenTask:        reflect.TypeFor[ReopenTask](),
	NameDeleteTask:        reflect.TypeFor[DeleteTask](),
	NameStartConversation: reflect.TypeFor[StartConversation](),
	NameAppendMessage:     reflect.TypeFor[AppendMessage](),
}

// Names returns every command name, sorted.
func Names() []string {
	names := make([]string, 0, len(commandTypes))
	for name := range commandTypes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Decode parses the JSON object of the command called name, as the HTTP and
// Watermill transports carry it, and validates it. Every problem is a
// *ValidationError (errors.Is ErrInvalid): an unknown name, a body that is
// not one JSON object, invalid UTF-8 or a lone surrogate escape, an unknown field, a value of the
// wrong JSON type, or a rule Validate checks. When only Validate fails, the
// decoded command is returned with the error, so a reply can name its
// command id.
//
// Field names match case-insensitively, as encoding/json does.
func Decode(name string, data []byte) (Command, error) {
	goType, ok := commandTypes[name]
	if !ok {
		return nil, invalidf("", "command", RuleUnknownCommand, "%q is not a command; use one of %s",
			truncate(name, 64), strings.Join(Names(), ", "))
	}
	// encoding/json would silently replace invalid UTF-8 with U+FFFD, so
	// the raw bytes are checked first.
	if !utf8.Valid(data) {
		return nil, invalidUTF8Fields(name, data)
	}
	if hasLoneSurrogate(data) {
		return nil, loneSurrogateFields(name, data)
	}

	target := reflect.New(goType)
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target.Interface()); err != nil {
		return nil, decodeError(name, err)
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid(name, "", RuleJSON, "the body must hold one JSON object and nothing after it")
	}

	cmd := target.Elem().Interface().(Command)
	if err := cmd.Validate(); err != nil {
		return cmd, err
	}
	return cmd, nil
}

// invalidUTF8Fields names the top-level fields of data whose raw value is
// not valid UTF-8.
func invalidUTF8Fields(command string, data []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return invalid(command, "", RuleUTF8, "the body must be valid UTF-8")
	}
	var problems []error
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		if !utf8.Valid(fields[field]) {
			problems = append(problems, invalid(command, field, RuleUTF8, "must be valid UTF-8"))
		}
	}
	if len(problems) == 0 {
		// The bad bytes are in a field name, which decoding replaced.
		return invalid(command, "", RuleUTF8, "the body must be valid UTF-8, field names included")
	}
	return errors.Join(problems...)
}

// decodeError turns an encoding/json error into a *ValidationError.
func decodeError(command string, err error) error {
	var typeError *json.UnmarshalTypeError
	if errors.As(err, &typeError) {
		if typeError.Field == "" {
			return invalidf(command, "", RuleType, "the body must be a JSON object, got %s", typeError.Value)
		}
		// The path names an embedded struct by its Go name; the JSON form has
		// the Header's fields at the top level.
		field := strings.TrimPrefix(typeError.Field, "Header.")
		return invalidf(command, field, RuleType, "must be a JSON %s, got %s",
			jsonTypeName(typeError.Type), typeError.Value)
	}
	// encoding/json reports unknown fields only in its message.
	if quoted, found := strings.CutPrefix(err.Error(), "json: unknown field "); found {
		field, unquoteErr := strconv.Unquote(quoted)
		if unquoteErr != nil {
			field = quoted
		}
		return invalidf(command, field, RuleUnknownField, "is not a field of %s", command)
	}
	if errors.Is(err, io.EOF) {
		return invalid(command, "", RuleJSON, "the body must be a JSON object, got nothing")
	}
	return invalidf(command, "", RuleJSON, "the body must be one JSON object: %v", err)
}

// jsonTypeName returns the JSON type that decodes into t.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return t.String()
	}
}

package commands

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// hasLoneSurrogate reports whether the JSON text data holds a \u escape of
// a UTF-16 surrogate that is not part of a valid pair. encoding/json turns
// such an escape into U+FFFD without an error, which would store something
// other than what the client sent.
func hasLoneSurrogate(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			code, ok := escapedCode(data, i)
			if !ok {
				i++ // an escape such as \n or \\ covers the next byte
				continue
			}
			switch {
			case code >= 0xD800 && code <= 0xDBFF:
				low, ok := escapedCode(data, i+6)
				if !ok || low < 0xDC00 || low > 0xDFFF {
					return true
				}
				i += 11
			case code >= 0xDC00 && code <= 0xDFFF:
				return true
			default:
				i += 5
			}
		}
	}
	return false
}

// escapedCode returns the code unit of the \uXXXX escape at data[i].
func escapedCode(data []byte, i int) (uint64, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	code, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
	return code, err == nil
}

// loneSurrogateFields names the top-level fields of data that hold a lone
// surrogate escape.
func loneSurrogateFields(command string, data []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return invalid(command, "", RuleUTF8, `the body holds a \u escape of a lone UTF-16 surrogate, which is not a character`)
	}
	var problems []error
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		if hasLoneSurrogate(fields[field]) {
			problems = append(problems, invalid(command, field, RuleUTF8,
				`holds a \u escape of a lone UTF-16 surrogate, which is not a character`))
		}
	}
	if len(problems) == 0 {
		return invalid(command, "", RuleUTF8, `a field name holds a \u escape of a lone UTF-16 surrogate`)
	}
	return joinProblems(problems)
}

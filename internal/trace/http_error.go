package trace

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/todolog/todolog/commands"
)

// HTTPError is an error response of the HTTP API.
type HTTPError struct {
	Method string
	URL    string
	Status int
	// Code is the API's error code, such as "not_found" or "rule_broken".
	Code    string
	Message string
	// Problems lists each invalid field with the rule it breaks.
	Problems []HTTPProblem
}

// HTTPProblem is one invalid field of a rejected command.
type HTTPProblem struct {
	Field  string `json:"field"`
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: status %d", e.Method, e.URL, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; %s: %s (rule %s)", p.Field, p.Detail, p.Rule)
	}
	return b.String()
}

// Is matches the commands sentinel of the error code, so callers test an
// HTTP failure as they test an in-process one. 502 and 503 responses match
// commands.ErrUnavailable.
func (e *HTTPError) Is(target error) bool {
	switch e.Code {
	case "invalid", "rule_broken":
		return target == commands.ErrInvalid
	case "not_found":
		return target == commands.ErrNotFound
	case "conflict":
		return target == commands.ErrConflict
	}
	return target == commands.ErrUnavailable &&
		(e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable)
}

// newHTTPError reads the API's error body, {"error": {"code", "message",
// "problems"}}, or keeps the start of a body of another form as the
// message.
func newHTTPError(method, url string, status int, body []byte) error {
	e := &HTTPError{Method: method, URL: url, Status: status}
	var decoded struct {
		Error struct {
			Code     string        `json:"code"`
			Message  string        `json:"message"`
			Problems []HTTPProblem `json:"problems"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &decoded); err == nil && decoded.Error.Code != "" {
		e.Code, e.Message, e.Problems = decoded.Error.Code, decoded.Error.Message, decoded.Error.Problems
	} else {
		e.Message = truncate(strings.TrimSpace(string(body)), 200)
	}
	return e
}

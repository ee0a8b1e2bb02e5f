package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
)

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	// Code is a stable machine-readable word, such as "invalid" or "conflict".
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems lists each invalid field with the rule it breaks.
	Problems []problem `json:"problems,omitempty"`
}

type problem struct {
	Field  string `json:"field,omitempty"`
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

// malformedRules are the validation rules about the request's form rather
// than its values. They map to 400 and the other rules to 422.
var malformedRules = map[string]bool{
	commands.RuleJSON:           true,
	commands.RuleType:           true,
	commands.RuleUnknownField:   true,
	commands.RuleUnknownCommand: true,
}

// errRequestTooLarge marks a body over the size limit.
var errRequestTooLarge = errors.New("request body too large")

// statusOf maps an error to its HTTP status and error code.
func statusOf(err error) (int, string) {
	if status, code, ok := queryStatus(err); ok {
		return status, code
	}
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes) || errors.Is(err, errRequestTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, errUnauthenticated):
		return http.StatusUnauthorized, "unauthenticated"
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, commands.ErrInvalid):
		for _, v := range commands.ValidationErrors(err) {
			if malformedRules[v.Rule] {
				return http.StatusBadRequest, "invalid"
			}
		}
		return http.StatusUnprocessableEntity, "rule_broken"
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, commands.ErrNotFound), errors.Is(err, errNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, commands.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	case unavailable(err):
		return http.StatusServiceUnavailable, "unavailable"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// unavailable reports errors that mean the database cannot be reached or
// used for now (database.IsTransient), so the client should retry.
func unavailable(err error) bool {
	return errors.Is(err, errDatabaseDown) || database.IsTransient(err)
}

// errDatabaseDown marks a failed readiness check.
var errDatabaseDown = errors.New("database unavailable")

// errBadRequest marks a request whose path or query string is malformed.
var errBadRequest = errors.New("bad request")

// errNotFound marks an unknown route or entity outside the commands package.
var errNotFound = errors.New("not found")

// writeError sends err as a JSON error body. Internal errors are logged with
// the request's route and user, and the response holds a generic message, so
// no database detail leaks to the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	body := errorBody{Error: errorDetail{Code: code, Message: err.Error()}}
	for _, v := range commands.ValidationErrors(err) {
		body.Error.Problems = append(body.Error.Problems, problem{Field: v.Field, Rule: v.Rule, Detail: v.Detail})
	}
	switch status {
	case http.StatusInternalServerError:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "user_id", r.PathValue("user_id"), "error", err)
		body.Error.Message = "internal error; the server log has the details"
	case http.StatusServiceUnavailable:
		if code == "parked" {
			s.logger.Warn("query waited for a parked event", "path", r.URL.Path, "user_id", r.PathValue("user_id"), "error", err)
			break
		}
		s.logger.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		body.Error.Message = "the database is unavailable; retry with the same Idempotency-Key"
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	encoder := json.NewEncoder(w)
	encoder.SetEscapeHTML(false)
	_ = encoder.Encode(body)
}

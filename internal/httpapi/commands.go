package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/todolog/todolog/commands"
)

// commandRoute maps one endpoint to a command. Path parameters become JSON
// fields of the command, next to the body's.
type commandRoute struct {
	pattern string
	command string // empty: the {name} path parameter
	// pathIDs names the integer path parameters copied into the command.
	pathIDs []string
	created bool // responds 201 Created
}

var commandRoutes = []commandRoute{
	{"POST /v1/users/{user_id}/tasks", commands.NameAddTask, nil, true},
	{"PATCH /v1/users/{user_id}/tasks/{task_id}", commands.NameUpdateTask, []string{"task_id"}, false},
	{"POST /v1/users/{user_id}/tasks/{task_id}/complete", commands.NameCompleteTask, []string{"task_id"}, false},
	{"POST /v1/users/{user_id}/tasks/{task_id}/reopen", commands.NameReopenTask, []string{"task_id"}, false},
	{"DELETE /v1/users/{user_id}/tasks/{task_id}", commands.NameDeleteTask, []string{"task_id"}, false},
	{"POST /v1/users/{user_id}/conversations", commands.NameStartConversation, nil, true},
	{"POST /v1/users/{user_id}/conversations/{conversation_id}/messages", commands.NameAppendMessage, []string{"conversation_id"}, true},
	{"POST /v1/users/{user_id}/messages", commands.NameAppendMessage, nil, true},
	{"POST /v1/users/{user_id}/commands/{name}", "", nil, false},
}

// handleCommand decodes the command, runs it and writes the result.
func (s *Server) handleCommand(route commandRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		userID := r.PathValue("user_id")
		if err := s.cfg.Auth.authorize(r, userID); err != nil {
			s.writeError(w, r, err)
			return
		}
		name := route.command
		if name == "" {
			name = r.PathValue("name")
		}

		body, err := s.readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fields := map[string]any{"user_id": userID}
		for _, param := range route.pathIDs {
			id, err := strconv.ParseInt(r.PathValue(param), 10, 64)
			if err != nil || id <= 0 {
				s.writeError(w, r, fmt.Errorf("%w: %s %q in the path must be a positive integer", errBadRequest, param, r.PathValue(param)))
				return
			}
			fields[param] = id
		}
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			fields["command_id"] = key
		}

		cmd, err := commands.Decode(name, withFields(body, fields))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := matchesPath(cmd, fields); err != nil {
			s.writeError(w, r, err)
			return
		}

		result, err := s.cfg.Commands.Handle(r.Context(), cmd)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if route.created {
			status = http.StatusCreated
		}
		if result.Duplicate {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Consistency-Token", result.Token)
		writeJSON(w, status, result)
	}
}

// readBody reads the request body up to the configured limit. An empty body
// stands for an empty JSON object, so commands without fields need none.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	reader := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	body, err := io.ReadAll(reader)
	if err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return nil, fmt.Errorf("%w: the limit is %d bytes", errRequestTooLarge, s.cfg.MaxBodyBytes)
		}
		return nil, fmt.Errorf("%w: reading the request body: %v", errBadRequest, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}"), nil
	}
	return body, nil
}

// withFields puts fields at the front of the JSON object body. A body that
// is not an object is returned unchanged, so Decode reports it. When body
// repeats a field, its own value comes later and wins; matchesPath then
// rejects a mismatch.
func withFields(body []byte, fields map[string]any) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return body
	}
	prefix, _ := json.Marshal(fields)
	rest := bytes.TrimSpace(trimmed[1:])
	if len(rest) > 0 && rest[0] != '}' {
		prefix[len(prefix)-1] = ','
	} else {
		prefix = prefix[:len(prefix)-1]
	}
	return append(prefix, rest...)
}

// matchesPath rejects a body whose user_id, ids or command_id disagree with
// the path and the Idempotency-Key header.
func matchesPath(cmd commands.Command, fields map[string]any) error {
	decoded, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	var got map[string]any
	if err := json.Unmarshal(decoded, &got); err != nil {
		return err
	}
	for field, want := range fields {
		if fmt.Sprint(got[field]) != fmt.Sprint(want) {
			return fmt.Errorf("%w: %s in the body (%v) differs from the path or Idempotency-Key header (%v)",
				errBadRequest, field, got[field], want)
		}
	}
	return nil
}

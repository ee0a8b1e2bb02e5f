package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/projections"
)

// DefaultConsistencyTimeout bounds how long a query given a consistency
// token waits for the projections.
const DefaultConsistencyTimeout = 5 * time.Second

// maxListLimit bounds the limit query parameter.
const maxListLimit = 1000

// Response shapes of the queries: the read tables' columns, in the names
// the chat backend's models use.
type (
	taskJSON struct {
		ID          int64     `json:"id"`
		UserID      string    `json:"user_id"`
		Title       string    `json:"title"`
		Description string    `json:"description"`
		Completed   bool      `json:"completed"`
		CreatedAt   time.Time `json:"created_at"`
		UpdatedAt   time.Time `json:"updated_at"`
		Version     int       `json:"stream_version"`
	}
	conversationJSON struct {
		ID        int64     `json:"id"`
		UserID    string    `json:"user_id"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	messageJSON struct {
		ID             int64     `json:"id"`
		UserID         string    `json:"user_id"`
		ConversationID int64     `json:"conversation_id"`
		Role           string    `json:"role"`
		Content        string    `json:"content"`
		CreatedAt      time.Time `json:"created_at"`
	}
)

func taskToJSON(t projections.Task) taskJSON {
	return taskJSON{ID: t.ID, UserID: t.UserID, Title: t.Title, Description: t.Description,
		Completed: t.Completed, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
}

// registerQueries adds the GET endpoints.
func (s *Server) registerQueries() {
	s.handle("GET /v1/users/{user_id}/tasks", s.query(func(r *http.Request, user string) (any, error) {
		status := projections.TaskStatus(r.URL.Query().Get("status"))
		switch status {
		case "", projections.StatusAll, projections.StatusPending, projections.StatusCompleted:
		default:
			return nil, queryProblem("status", commands.RuleOneOf, "must be all, pending or completed, got %q", status)
		}
		tasks, err := projections.ListTasks(r.Context(), s.cfg.DB, user, status)
		if err != nil {
			return nil, err
		}
		list := make([]taskJSON, len(tasks))
		for i, t := range tasks {
			list[i] = taskToJSON(t)
		}
		return map[string]any{"tasks": list}, nil
	}))
	s.handle("GET /v1/users/{user_id}/tasks/{task_id}", s.query(func(r *http.Request, user string) (any, error) {
		id, err := pathID(r, "task_id")
		if err != nil {
			return nil, err
		}
		task, err := projections.GetTask(r.Context(), s.cfg.DB, user, id)
		if err != nil {
			return nil, err
		}
		return taskToJSON(task), nil
	}))
	s.handle("GET /v1/users/{user_id}/conversations", s.query(func(r *http.Request, user string) (any, error) {
		limit, err := queryInt(r, "limit", 0, maxListLimit)
		if err != nil {
			return nil, err
		}
		conversations, err := projections.ListConversations(r.Context(), s.cfg.DB, user, int(limit))
		if err != nil {
			return nil, err
		}
		list := make([]conversationJSON, len(conversations))
		for i, c := range conversations {
			list[i] = conversationJSON{ID: c.ID, UserID: c.UserID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
		}
		return map[string]any{"conversations": list}, nil
	}))
	s.handle("GET /v1/users/{user_id}/conversations/{conversation_id}/messages", s.query(func(r *http.Request, user string) (any, error) {
		id, err := pathID(r, "conversation_id")
		if err != nil {
			return nil, err
		}
		limit, err := queryInt(r, "limit", 0, maxListLimit)
		if err != nil {
			return nil, err
		}
		after, err := queryInt(r, "after", 0, 1<<62)
		if err != nil {
			return nil, err
		}
		messages, err := projections.ListMessages(r.Context(), s.cfg.DB, user, id,
			projections.MessagePage{AfterID: after, Limit: int(limit)})
		if err != nil {
			return nil, err
		}
		list := make([]messageJSON, len(messages))
		for i, m := range messages {
			list[i] = messageJSON{ID: m.ID, UserID: m.UserID, ConversationID: m.ConversationID,
				Role: m.Role, Content: m.Content, CreatedAt: m.CreatedAt}
		}
		return map[string]any{"messages": list}, nil
	}))
}

// query wraps a read: it authenticates, checks the user id, waits for the
// consistency token when the request carries one, and writes the result.
// The wait and the read only read, so both run again after a transient
// database error, within Config.QueryRetry.
func (s *Server) query(read func(r *http.Request, user string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := r.PathValue("user_id")
		if err := s.cfg.Auth.authorize(r, user); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := events.CheckUserID(user); err != nil {
			s.writeError(w, r, queryProblem("user_id", commands.RulePattern, "must match %s", events.UserIDPattern))
			return
		}
		cursor, err := requestToken(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}

		// A rerun waits only for what is left of the consistency timeout.
		waitUntil := time.Now().Add(s.cfg.ConsistencyTimeout)
		logger := s.logger.With("method", r.Method, "path", r.URL.Path, "user_id", user)
		var body any
		err = database.Retry(r.Context(), s.cfg.QueryRetry, logger, func(ctx context.Context, attempt int) error {
			timeout := s.cfg.ConsistencyTimeout
			if attempt > 1 {
				timeout = max(time.Until(waitUntil), 0)
			}
			if err := projections.WaitFor(ctx, s.cfg.DB, user, cursor, timeout); err != nil {
				return err
			}
			var err error
			body, err = read(r, user)
			return err
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// requestToken returns the cursor named by the Consistency-Token header or
// the token query parameter, and the zero cursor, which WaitFor does not
// wait for, when the request has neither.
func requestToken(r *http.Request) (events.Cursor, error) {
	token := r.Header.Get("Consistency-Token")
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	if token == "" {
		return events.Cursor{}, nil
	}
	cursor, err := commands.ParseToken(token)
	if err != nil {
		return events.Cursor{}, queryProblem("token", commands.RulePattern, "must be a consistency token from a command result: %v", err)
	}
	return cursor, nil
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %s %q in the path must be a positive integer", errBadRequest, name, r.PathValue(name))
	}
	return id, nil
}

// queryInt reads an optional integer query parameter within [0, max].
func queryInt(r *http.Request, name string, fallback, max int64) (int64, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, queryProblem(name, commands.RuleNonNegative, "must be an integer from 0 to %d, got %q", max, raw)
	}
	return n, nil
}

// queryProblem reports a bad query parameter as a validation error, so the
// response is 422 with the field and rule, as for a command.
func queryProblem(field, rule, format string, args ...any) error {
	return &commands.ValidationError{Field: field, Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// queryStatus maps the projections package's errors, for statusOf.
func queryStatus(err error) (int, string, bool) {
	switch {
	case errors.Is(err, projections.ErrNotFound):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, projections.ErrWaitTimeout):
		return http.StatusGatewayTimeout, "consistency_timeout", true
	case errors.Is(err, projections.ErrParked), errors.Is(err, projections.ErrHeld):
		return http.StatusServiceUnavailable, "parked", true
	}
	return 0, "", false
}

package commands

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/google/uuid"

	"github.com/todolog/todolog/events"
)

// DefaultMaxConflictRetries is the Config.MaxConflictRetries used when none
// is set. In TestConcurrentAppendsToOneConversation (100 concurrent appends
// to one conversation through one Handler, 20 connections, race detector,
// 2-core machine) no command needed more than 11 attempts.
const DefaultMaxConflictRetries = 20

// Config configures a Handler.
type Config struct {
	// DB is the pool commands are handled on. Required. Each statement of
	// an attempt is its own transaction scoped to the command's user
	// (events.QueryAsUser), so nothing outlives it and it works behind a
	// pooler in transaction mode.
	DB *sql.DB
	// Logger receives one Debug record per command and per retry. Nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxConflictRetries bounds how often a command without an expected
	// version is decided again after another writer appended to its stream
	// first. 0 means DefaultMaxConflictRetries.
	MaxConflictRetries int
}

// Validate returns every problem with c at once, joined.
func (c Config) Validate() error {
	var problems []error
	if c.DB == nil {
		problems = append(problems, errors.New("commands: Config.DB is required"))
	}
	if c.MaxConflictRetries < 0 {
		problems = append(problems, fmt.Errorf("commands: Config.MaxConflictRetries must be 0 (the default, %d) or more, got %d",
			DefaultMaxConflictRetries, c.MaxConflictRetries))
	}
	return errors.Join(problems...)
}

// Handler validates commands, decides them against the current state of
// their stream and appends the resulting events. It is safe for concurrent
// use, and so are several Handlers on one database, because every append
// checks the stream version it was decided on.
type Handler struct {
	db         *sql.DB
	logger     *slog.Logger
	maxRetries int
}

var _ Dispatcher = (*Handler)(nil)

// NewHandler fills in cfg's defaults, validates it and returns a Handler.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConflictRetries == 0 {
		cfg.MaxConflictRetries = DefaultMaxConflictRetries
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{db: cfg.DB, logger: cfg.Logger, maxRetries: cfg.MaxConflictRetries}, nil
}

// Handle validates cmd, decides it and appends its events; the package
// documentation lists the steps. Errors are testable with errors.Is:
// ErrInvalid for bad input (nothing touched the database), ErrNotFound,
// and ErrConflict when the caller's expected version is stale or the
// stream stayed contended through every retry. A command that changes
// nothing returns Changed false and a Note, not an error.
func (h *Handler) Handle(ctx context.Context, cmd Command) (Result, error) {
	cmd, err := dereference(cmd)
	if err != nil {
		return Result{}, err
	}
	name := cmd.CommandName()
	header := cmd.CommandHeader()
	if err := cmd.Validate(); err != nil {
		h.logger.DebugContext(ctx, "command rejected as invalid", "command", name, "user_id", header.UserID,
			"command_id", header.CommandID, "error", err)
		return Result{}, err
	}
	keyed := header.CommandID != ""
	if !keyed {
		header.CommandID = uuid.NewString()
	}

	result, attempts, err := h.handle(ctx, cmd, header, keyed)
	if err != nil {
		h.logger.DebugContext(ctx, "command failed", "command", name, "user_id", header.UserID,
			"command_id", header.CommandID, "attempts", attempts, "error", err)
		return Result{}, fmt.Errorf("%s (command %s): %w", name, header.CommandID, err)
	}
	h.logger.DebugContext(ctx, "command handled", "command", name, "user_id", header.UserID,
		"command_id", header.CommandID, "stream", resultStream(result), "stream_version", result.StreamVersion,
		"changed", result.Changed, "duplicate", result.Duplicate, "attempts", attempts)
	return result, nil
}

// handle runs attempts until one succeeds or fails for good, and returns
// the number of attempts made.
func (h *Handler) handle(ctx context.Context, cmd Command, header Header, keyed bool) (Result, int, error) {
	// A generated command id cannot have been appended, so only a caller's
	// key is worth a look-up.
	if keyed {
		if result, found, err := h.previousResult(ctx, header); err != nil || found {
			return result, 0, err
		}
	}

	for attempt := 1; ; attempt++ {
		result, err := h.attempt(ctx, cmd, header)
		if err == nil {
			return result, attempt, nil
		}
		var duplicate *events.DuplicateError
		if errors.As(err, &duplicate) {
			result, err := h.duplicateResult(ctx, header, duplicate.First)
			return result, attempt, err
		}
		if !errors.Is(err, ErrConflict) {
			return Result{}, attempt, err
		}

		// The writer that got there first may be a concurrent attempt of
		// this very command.
		if keyed {
			if result, found, err := h.previousResult(ctx, header); err != nil || found {
				return result, attempt, err
			}
		}
		if header.ExpectedVersion != nil {
			return Result{}, attempt, err
		}
		if attempt > h.maxRetries {
			return Result{}, attempt, fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		delay := retryDelay(attempt)
		h.logger.DebugContext(ctx, "retrying command after a stream version conflict", "command", cmd.CommandName(),
			"user_id", header.UserID, "command_id", header.CommandID, "attempt", attempt, "delay", delay, "error", err)
		if err := sleep(ctx, delay); err != nil {
			return Result{}, attempt, err
		}
	}
}

// previousResult returns the result of the earlier append of header's
// command id, if there was one.
func (h *Handler) previousResult(ctx context.Context, header Header) (Result, bool, error) {
	first, found, err := events.ReadCommandResult(ctx, h.db, header.UserID, header.CommandID)
	if err != nil || !found {
		return Result{}, false, err
	}
	result, err := h.duplicateResult(ctx, header, first)
	return result, err == nil, err
}

// duplicateResult rebuilds the result of first, an earlier append of the
// same command id. An empty first, which Append returns when it could not
// read the earlier append, is read again.
func (h *Handler) duplicateResult(ctx context.Context, header Header, first events.AppendResult) (Result, error) {
	if len(first.Positions) == 0 {
		var found bool
		var err error
		first, found, err = events.ReadCommandResult(ctx, h.db, header.UserID, header.CommandID)
		if err != nil {
			return Result{}, err
		}
		if !found {
			return Result{}, fmt.Errorf("command %s of user %s was reported as appended but cannot be read",
				header.CommandID, header.UserID)
		}
	}
	written, err := readAppended(ctx, h.db, first)
	if err != nil {
		return Result{}, err
	}
	result := appendedResult(first, written)
	result.Duplicate = true
	result.Note = "this command id was handled before, so this is the first result and nothing was written"
	return result, nil
}

// dereference returns the command a pointer points to, so Handle accepts
// both forms, and rejects types this package does not define.
func dereference(cmd Command) (Command, error) {
	if cmd == nil {
		return nil, invalid("", "command", RuleUnknownCommand, "a command is required, got nil")
	}
	value := reflect.ValueOf(cmd)
	if value.Kind() == reflect.Pointer {
		if value.IsNil() {
			return nil, invalidf("", "command", RuleUnknownCommand, "a command is required, got a nil %T", cmd)
		}
		elem, ok := value.Elem().Interface().(Command)
		if !ok {
			return nil, invalidf("", "command", RuleUnknownCommand, "%T is not a command of this package", cmd)
		}
		cmd = elem
	}
	if commandTypes[cmd.CommandName()] != reflect.TypeOf(cmd) {
		return nil, invalidf("", "command", RuleUnknownCommand, "%T is not a command of this package", cmd)
	}
	return cmd, nil
}

func resultStream(r Result) string {
	switch {
	case r.TaskID != 0:
		return events.TaskStream(r.TaskID).String()
	case r.ConversationID != 0:
		return events.ConversationStream(r.ConversationID).String()
	default:
		return ""
	}
}

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
	"github.com/todolog/todolog/internal/database"
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
	// Retry bounds how often a command is run again after a transient
	// database error, such as a dropped connection or a server that is
	// restarting. Zero fields take the defaults of database.RetryPolicy: 8
	// attempts within 10 s, waiting up to 50 ms at first and up to 2 s
	// later. MaxAttempts 1 turns these retries off.
	Retry RetryPolicy
}

// RetryPolicy bounds the retries after transient database errors: the
// attempts, the time, and the delays between them.
type RetryPolicy = database.RetryPolicy

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
	if err := c.Retry.Validate(); err != nil {
		problems = append(problems, fmt.Errorf("commands: Config.Retry: %w", err))
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
	retry      RetryPolicy
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
	return &Handler{db: cfg.DB, logger: cfg.Logger, maxRetries: cfg.MaxConflictRetries, retry: cfg.Retry.WithDefaults()}, nil
}

// Handle validates cmd, decides it and appends its events; the package
// documentation lists the steps. Errors are testable with errors.Is:
// ErrInvalid for bad input (nothing touched the database), ErrNotFound,
// ErrConflict when the caller's expected version is stale or the stream
// stayed contended through every retry, and ErrUnavailable when the
// database failed with transient errors through every retry of
// Config.Retry. A command that changes nothing returns Changed false and a
// Note, not an error.
//
// A command without a command id gets one generated here, once, so the
// retries after transient errors share it and write the command at most
// once.
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

	result, attempts, err := h.handleRetrying(ctx, &commandRun{cmd: cmd, header: header, lookUp: keyed})
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

// commandRun is one Handle call: the command and what its attempts left
// behind for the next ones.
type commandRun struct {
	cmd    Command
	header Header
	// lookUp makes handle read the command id's earlier append before
	// deciding. It is set for a caller's command id, which may have been
	// sent before, and after a transient error, which may hide a commit.
	lookUp bool
	// sentEventIDs holds the event ids of every append this run sent. An
	// earlier append of the command id that carries one of them was
	// written by this run, although its reply was lost.
	sentEventIDs map[uuid.UUID]bool
}

// newEventIDs returns n new event ids for an append and remembers them.
func (run *commandRun) newEventIDs(n int) []uuid.UUID {
	if run.sentEventIDs == nil {
		run.sentEventIDs = make(map[uuid.UUID]bool, n)
	}
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
		run.sentEventIDs[ids[i]] = true
	}
	return ids
}

// handle runs attempts until one succeeds or fails for good, and returns
// the number of attempts made. Conflicts are retried here; transient
// errors are returned, for handleRetrying.
func (h *Handler) handle(ctx context.Context, run *commandRun) (Result, int, error) {
	cmd, header := run.cmd, run.header
	// A generated command id cannot have been appended before the first
	// attempt, so it is looked up only on reruns.
	if run.lookUp {
		if result, found, err := h.previousResult(ctx, run); err != nil || found {
			return result, 0, err
		}
	}

	for attempt := 1; ; attempt++ {
		result, err := h.attempt(ctx, run)
		if err == nil {
			return result, attempt, nil
		}
		var duplicate *events.DuplicateError
		if errors.As(err, &duplicate) {
			result, err := h.duplicateResult(ctx, run, duplicate.First)
			return result, attempt, err
		}
		if !errors.Is(err, ErrConflict) {
			return Result{}, attempt, err
		}

		// The writer that got there first may be a concurrent attempt of
		// this very command.
		if run.lookUp {
			if result, found, err := h.previousResult(ctx, run); err != nil || found {
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

// previousResult returns the result of the earlier append of the run's
// command id, if there was one.
func (h *Handler) previousResult(ctx context.Context, run *commandRun) (Result, bool, error) {
	header := run.header
	first, found, err := events.ReadCommandResult(ctx, h.db, header.UserID, header.CommandID)
	if err != nil || !found {
		return Result{}, false, err
	}
	result, err := h.duplicateResult(ctx, run, first)
	return result, err == nil, err
}

// duplicateResult rebuilds the result of first, an earlier append of the
// same command id. An empty first, which Append returns when it could not
// read the earlier append, is read again.
//
// When first carries an event id this run sent, this run wrote it and only
// the reply was lost: the connection broke before the reply to the commit
// arrived, or database/sql sent the append again on another connection
// after driver.ErrBadConn. The result then is not marked as a duplicate, because
// the command was written once, by this call.
func (h *Handler) duplicateResult(ctx context.Context, run *commandRun, first events.AppendResult) (Result, error) {
	header := run.header
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
	if len(first.EventIDs) > 0 && run.sentEventIDs[first.EventIDs[0]] {
		h.logger.InfoContext(ctx, "returning the result of an earlier attempt that committed although its reply was lost",
			"command", run.cmd.CommandName(), "user_id", header.UserID, "command_id", header.CommandID,
			"positions", first.Positions)
		return result, nil
	}
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

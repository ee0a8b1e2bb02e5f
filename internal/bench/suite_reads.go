package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/todolog/todolog/projections"
	"github.com/todolog/todolog/replay"
)

// latestMessages is how many messages the query step reads: the latest
// page a stateless chat backend loads on every turn.
const latestMessages = 50

// ReadSide holds the read-side measurements.
type ReadSide struct {
	// LogEvents is the size of the log that catch-up and rebuild read.
	LogEvents int64
	// SetBased is how long set-based SQL took to build the three read
	// tables from the whole log: the baseline of catch-up and rebuild.
	SetBased time.Duration
	// CatchUp is how long a Projector took from empty checkpoints to the
	// head of the log, both projections running.
	CatchUp time.Duration
	// Rebuild is how long projections.Rebuild of both projections took.
	Rebuild        time.Duration
	RebuildApplied int64
	// ReplayEvents is the number of events of the replayed user.
	ReplayEvents int64
	// PlainReplay times a plain SELECT of every column of the user's
	// events; Replay times replay.Export of the same user to io.Discard.
	PlainReplay LoadResult
	Replay      LoadResult
	// PlainQuery times a plain SELECT of the latest messages by the
	// messages index; Query times projections.ListMessages.
	PlainQuery LoadResult
	Query      LoadResult
}

// runReadSide fills the log, then measures the set-based baseline,
// catch-up, rebuild, one user's replay and the latest-messages query.
func runReadSide(ctx context.Context, cfg SuiteConfig) (ReadSide, error) {
	var result ReadSide
	cfg.Logger.Info("filling the log", "events", cfg.CatchUpEvents, "users", cfg.CatchUpUsers,
		"query_conversation_messages", cfg.QueryMessages)
	chatUser, conversationID, err := fillReadSide(ctx, cfg)
	if err != nil {
		return result, err
	}
	if err := cfg.DB.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&result.LogEvents); err != nil {
		return result, err
	}

	cfg.Logger.Info("building the read tables with set-based SQL", "log_events", result.LogEvents)
	if result.SetBased, err = BuildSetBased(ctx, cfg.DB); err != nil {
		return result, err
	}
	cfg.Logger.Info("catching up a projector from empty checkpoints", "log_events", result.LogEvents)
	if result.CatchUp, err = catchUp(ctx, cfg); err != nil {
		return result, err
	}
	if err := CompareWithSetBased(ctx, cfg.DB); err != nil {
		return result, fmt.Errorf("after catch-up: %w", err)
	}

	cfg.Logger.Info("rebuilding both projections", "log_events", result.LogEvents)
	rebuildStart := time.Now()
	rebuilt, err := projections.Rebuild(ctx, cfg.DB, projections.RebuildConfig{Logger: componentLogger(cfg.Logger)})
	if err != nil {
		return result, err
	}
	result.Rebuild = time.Since(rebuildStart)
	for _, p := range rebuilt.Projections {
		result.RebuildApplied += p.Applied
		if !p.Equal() || len(p.Parked) > 0 {
			return result, fmt.Errorf("the rebuild of %s changed the caught-up tables or parked %d events", p.Projection, len(p.Parked))
		}
	}

	cfg.Logger.Info("replaying one user and querying the latest messages", "user", chatUser,
		"replays", cfg.Replays, "queries", cfg.Queries)
	if err := measureReplay(ctx, cfg, chatUser, &result); err != nil {
		return result, err
	}
	err = measureQuery(ctx, cfg, chatUser, conversationID, &result)
	return result, err
}

// fillReadSide generates the catch-up log and, after it, the query
// conversation of one user, and returns that user and conversation.
func fillReadSide(ctx context.Context, cfg SuiteConfig) (string, int64, error) {
	firstID, err := NextID(ctx, cfg.DB)
	if err != nil {
		return "", 0, err
	}
	if err := (Fill{Users: cfg.CatchUpUsers, Events: cfg.CatchUpEvents, UserPrefix: "bench-log-", FirstID: firstID}).Run(ctx, cfg.DB); err != nil {
		return "", 0, err
	}
	if firstID, err = NextID(ctx, cfg.DB); err != nil {
		return "", 0, err
	}
	// One user's fill puts 3 messages in every 5 events after the first.
	chat := Fill{Users: 1, Events: 1 + (cfg.QueryMessages*5+2)/3, UserPrefix: "bench-chat-", FirstID: firstID}
	if err := chat.Run(ctx, cfg.DB); err != nil {
		return "", 0, err
	}
	return "bench-chat-00000", firstID + 1, nil
}

// catchUp empties the read tables and checkpoints, runs a Projector until
// both checkpoints reach the head of the log, and returns how long it took.
func catchUp(ctx context.Context, cfg SuiteConfig) (time.Duration, error) {
	if _, err := cfg.DB.ExecContext(ctx, `TRUNCATE tasks, messages, conversations, parked_events, projection_checkpoints`); err != nil {
		return 0, err
	}
	var head [2]int64
	if err := cfg.DB.QueryRowContext(ctx, `SELECT transaction_id::text::bigint, position FROM events
		ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&head[0], &head[1]); err != nil {
		return 0, fmt.Errorf("reading the head of the log: %w", err)
	}

	projector, err := projections.New(cfg.DB, projections.Config{Logger: componentLogger(cfg.Logger)})
	if err != nil {
		return 0, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- projector.Run(runCtx) }()

	for {
		var reached int
		err := cfg.DB.QueryRowContext(ctx, `SELECT count(*) FROM projection_checkpoints
			WHERE (last_transaction_id, last_position) >= ($1::text::xid8, $2)`, head[0], head[1]).Scan(&reached)
		if err != nil {
			return 0, err
		}
		if reached == len(projections.Names()) {
			break
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("the projector stopped before reaching the head of the log: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)

	if err := projector.Close(); err != nil {
		return 0, err
	}
	return elapsed, <-done
}

// measureReplay reads the user's whole history cfg.Replays times each way.
func measureReplay(ctx context.Context, cfg SuiteConfig, user string, result *ReadSide) error {
	if err := cfg.DB.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE user_id = $1`, user).
		Scan(&result.ReplayEvents); err != nil {
		return err
	}
	load := Load{Clients: 1, Count: cfg.Replays}
	var err error
	result.PlainReplay, err = load.Run(ctx, func(ctx context.Context, _ int, _ string) error {
		return selectEveryColumn(ctx, cfg.DB, `SELECT * FROM events WHERE user_id = $1 ORDER BY user_sequence`, user)
	})
	if err != nil {
		return err
	}
	result.Replay, err = load.Run(ctx, func(ctx context.Context, _ int, _ string) error {
		_, err := replay.Export(ctx, cfg.DB, user, io.Discard)
		return err
	})
	return err
}

// measureQuery reads the latest messages of the conversation cfg.Queries
// times each way.
func measureQuery(ctx context.Context, cfg SuiteConfig, user string, conversationID int64, result *ReadSide) error {
	if _, err := cfg.DB.ExecContext(ctx, `VACUUM (ANALYZE) messages, conversations`); err != nil {
		return err
	}
	load := Load{Clients: 1, Count: cfg.Queries}
	var err error
	result.PlainQuery, err = load.Run(ctx, func(ctx context.Context, _ int, _ string) error {
		return selectEveryColumn(ctx, cfg.DB, `SELECT id, user_id, conversation_id, role, content, created_at
			FROM messages WHERE user_id = $1 AND conversation_id = $2 ORDER BY stream_version DESC LIMIT $3`,
			user, conversationID, latestMessages)
	})
	if err != nil {
		return err
	}
	result.Query, err = load.Run(ctx, func(ctx context.Context, _ int, _ string) error {
		messages, err := projections.ListMessages(ctx, cfg.DB, user, conversationID, projections.MessagePage{Limit: latestMessages})
		if err == nil && len(messages) != latestMessages {
			err = fmt.Errorf("ListMessages returned %d messages, want %d", len(messages), latestMessages)
		}
		return err
	})
	return err
}

// selectEveryColumn runs query and scans every column of every row as raw
// bytes, the least a client can do with the rows.
func selectEveryColumn(ctx context.Context, db *sql.DB, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return err
	}
	values := make([]sql.RawBytes, len(columns))
	targets := make([]any, len(columns))
	for i := range values {
		targets[i] = &values[i]
	}
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return err
		}
	}
	return rows.Err()
}

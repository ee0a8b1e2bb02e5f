package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/projections"
)

// lagUsers is how many users the lag step's commands are spread over.
const lagUsers = 20

// lagObservePeriod is how often the lag step looks for the commands' rows,
// which bounds the resolution of each lag.
const lagObservePeriod = 2 * time.Millisecond

// LagResult holds the lag step's measurements, each sorted.
type LagResult struct {
	// Lags runs from a command's return, after its commit, until its row
	// is visible in the tasks or messages table.
	Lags []time.Duration
	// Handles holds each command's own latency: the baseline a reader
	// waits for anyway.
	Handles []time.Duration
}

// lagCommand is a committed command whose row the observer waits for.
type lagCommand struct {
	table     string
	id        int64
	committed time.Time
}

// runLag sends cfg.LagRate commands per second, AddTask and AppendMessage
// in turn, through a Handler, with a Projector running, and measures each
// command's lag.
func runLag(ctx context.Context, cfg SuiteConfig) (LagResult, error) {
	logger := componentLogger(cfg.Logger)
	handler, err := commands.NewHandler(commands.Config{DB: cfg.DB, Logger: logger})
	if err != nil {
		return LagResult{}, err
	}
	client := commands.NewClient(handler)
	users := make([]string, lagUsers)
	conversations := make([]int64, lagUsers)
	for i := range users {
		users[i] = fmt.Sprintf("bench-lag-%02d", i)
		started, err := client.StartConversation(ctx, users[i])
		if err != nil {
			return LagResult{}, err
		}
		conversations[i] = started.ConversationID
	}

	projector, err := projections.New(cfg.DB, projections.Config{Logger: logger, PollInterval: cfg.PollInterval})
	if err != nil {
		return LagResult{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- projector.Run(runCtx) }()
	<-projector.Running()
	stopProjector := func() error { return errors.Join(projector.Close(), <-done) }

	committed := make(chan lagCommand, cfg.LagRate)
	observed := make(chan observation, 1)
	go func() { observed <- observeRows(ctx, cfg, committed) }()
	handles, sendErr := sendAtRate(ctx, cfg, client, users, conversations, committed)
	close(committed)
	observation := <-observed
	if err := errors.Join(sendErr, observation.err, stopProjector()); err != nil {
		return LagResult{}, err
	}
	slices.Sort(observation.lags)
	slices.Sort(handles)
	return LagResult{Lags: observation.lags, Handles: handles}, nil
}

// sendAtRate starts one command every 1/LagRate seconds for LagDuration,
// each in its own goroutine so a slow command never delays the next, and
// returns every command's latency.
func sendAtRate(ctx context.Context, cfg SuiteConfig, client *commands.Client, users []string, conversations []int64,
	committed chan<- lagCommand) ([]time.Duration, error) {
	var mu sync.Mutex
	var handles []time.Duration
	var errs []error
	var wg sync.WaitGroup
	ticker := time.NewTicker(time.Second / time.Duration(cfg.LagRate))
	defer ticker.Stop()
	deadline := time.Now().Add(cfg.LagDuration)
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		<-ticker.C
		wg.Go(func() {
			user := i % len(users)
			start := time.Now()
			command := lagCommand{table: "tasks"}
			var result commands.Result
			var err error
			if i%2 == 0 {
				result, err = client.AddTask(ctx, users[user], fmt.Sprintf("buy oat milk #%d", i), "")
				command.id = result.TaskID
			} else {
				command.table = "messages"
				result, err = client.AppendMessage(ctx, users[user], conversations[user], commands.RoleUser,
					fmt.Sprintf("message %d: add oat milk to my list", i))
				command.id = result.MessageID
			}
			command.committed = time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			handles = append(handles, command.committed.Sub(start))
			committed <- command
		})
	}
	wg.Wait()
	return handles, errors.Join(errs...)
}

// observation is what observeRows saw.
type observation struct {
	lags []time.Duration
	err  error
}

// observeRows looks for the rows of committed commands every
// lagObservePeriod until committed is closed and every row was seen. A row
// counts as visible when the query that found it started.
func observeRows(ctx context.Context, cfg SuiteConfig, committed <-chan lagCommand) observation {
	var result observation
	pending := map[string]map[int64]time.Time{"tasks": {}, "messages": {}}
	open := true
	var giveUp time.Time
	for {
		for drained := false; open && !drained; {
			select {
			case command, ok := <-committed:
				if !ok {
					open = false
					giveUp = time.Now().Add(time.Minute)
					break
				}
				pending[command.table][command.id] = command.committed
			default:
				drained = true
			}
		}
		waiting := len(pending["tasks"]) + len(pending["messages"])
		if !open && waiting == 0 {
			return result
		}
		if !open && time.Now().After(giveUp) {
			result.err = fmt.Errorf("%d commands' rows did not appear in the read tables within a minute", waiting)
			return result
		}
		if waiting > 0 {
			if err := findRows(ctx, cfg, pending, &result.lags); err != nil {
				result.err = err
				return result
			}
		}
		time.Sleep(lagObservePeriod)
	}
}

// findRows removes the pending rows that are now visible and records their
// lags.
func findRows(ctx context.Context, cfg SuiteConfig, pending map[string]map[int64]time.Time, lags *[]time.Duration) error {
	ids := func(table string) []int64 {
		list := make([]int64, 0, len(pending[table]))
		for id := range pending[table] {
			list = append(list, id)
		}
		return list
	}
	start := time.Now()
	rows, err := cfg.DB.QueryContext(ctx, `SELECT 'tasks', id FROM tasks WHERE id = ANY($1)
		UNION ALL SELECT 'messages', id FROM messages WHERE id = ANY($2)`,
		pq.Array(ids("tasks")), pq.Array(ids("messages")))
	if err != nil {
		return fmt.Errorf("looking for the commands' rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var id int64
		if err := rows.Scan(&table, &id); err != nil {
			return err
		}
		*lags = append(*lags, max(start.Sub(pending[table][id]), 0))
		delete(pending[table], id)
	}
	return rows.Err()
}

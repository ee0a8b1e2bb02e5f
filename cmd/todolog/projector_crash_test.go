package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/pgtest"
	"github.com/todolog/todolog/projections"
)

// startProjectorProcess runs `todolog serve --components projections`.
func startProjectorProcess(t *testing.T, databaseURL string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "--components", "projections", "--projection-poll-interval", "20ms")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DATABASE_URL=" + databaseURL,
		"TODOLOG_LOG_LEVEL=warn"}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// sendLoad runs commands for 10 users until stop is closed.
func sendLoad(t *testing.T, db *sql.DB, stop <-chan struct{}) *atomic.Int64 {
	t.Helper()
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	client := commands.NewClient(handler)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for u := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			user := fmt.Sprintf("crash-user-%d", u)
			conversation := int64(0)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch i % 4 {
				case 0:
					var r commands.Result
					r, err = client.AddTask(ctx, user, fmt.Sprintf("task %d", i), "")
					if err == nil && i%8 == 0 {
						_, err = client.CompleteTask(ctx, user, r.TaskID)
					}
				default:
					var r commands.Result
					r, err = client.AppendMessage(ctx, user, conversation, "user", fmt.Sprintf("message %d", i))
					conversation = r.ConversationID
				}
				if err != nil {
					t.Errorf("user %s command %d: %v", user, i, err)
					return
				}
				sent.Add(1)
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return &sent
}

func TestProjectorSurvivesRepeatedKills(t *testing.T) {
	databaseURL := pgtest.NewDatabase(t, true)
	db := pgtest.Open(t, databaseURL)
	stop := make(chan struct{})
	sent := sendLoad(t, db, stop)

	// Each kill only tests something if the killed process was applying
	// events, so it comes at a random moment after the process has moved the
	// checkpoint at least once.
	checkpoint := func() int64 {
		var position int64
		err := db.QueryRow(`SELECT coalesce(max(last_position), 0) FROM projection_checkpoints`).Scan(&position)
		require.NoError(t, err)
		return position
	}
	projector := startProjectorProcess(t, databaseURL)
	for kill := range 20 {
		before := checkpoint()
		require.Eventually(t, func() bool { return checkpoint() > before }, 30*time.Second, 10*time.Millisecond,
			"projector %d never applied an event", kill)
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		require.NoError(t, projector.Process.Kill(), "kill %d", kill)
		_ = projector.Wait()
		projector = startProjectorProcess(t, databaseURL)
	}
	close(stop)
	t.Logf("%d commands sent during 20 kills", sent.Load())

	// Let the last projector catch up with the whole log.
	require.Eventually(t, func() bool {
		lags, err := projections.ReadLag(context.Background(), db)
		require.NoError(t, err)
		for _, lag := range lags {
			if lag.Events > 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond)

	// A from-scratch projection of the log must equal the live tables.
	rebuilt := pgtest.Open(t, pgtest.NewDatabase(t, true))
	ctx := context.Background()
	tx, err := rebuilt.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	applied := 0
	for r, err := range events.ReadAll(ctx, db, events.Cursor{}) {
		require.NoError(t, err)
		for _, name := range projections.Names() {
			require.NoError(t, projections.Apply(ctx, tx, name, r))
		}
		applied++
	}
	require.NoError(t, tx.Commit())
	require.Positive(t, applied)

	for _, table := range projections.ReadTables() {
		live, err := projections.TableChecksum(ctx, db, table)
		require.NoError(t, err)
		fromScratch, err := projections.TableChecksum(ctx, rebuilt, table)
		require.NoError(t, err)
		require.Positive(t, live.Rows, table)
		require.Equal(t, fromScratch, live, table)
	}
	parked, err := projections.ListParked(ctx, db, projections.Tasks)
	require.NoError(t, err)
	require.Empty(t, parked)
}

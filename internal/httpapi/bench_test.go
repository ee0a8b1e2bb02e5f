package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/bench"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/pgtest"
)

// BenchmarkAddTask measures AddTask at 1 and 16 concurrent clients through
// the command handler called in process and through the HTTP API on
// loopback, next to the baseline of a plain single-row INSERT of an
// event-shaped row, all in one run against one cluster. Set
// TODOLOG_TEST_DURABLE=1 for a cluster with fsync on. `todolog bench`
// measures the same at 1, 4 and 16 clients.
func BenchmarkAddTask(b *testing.B) {
	db := pgtest.Open(b, pgtest.NewDatabase(b, true))
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	if err := bench.CreatePlainEvents(context.Background(), db); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Config{Commands: handler, DB: db, Logger: logger,
		Auth: httpapi.Auth{ServiceToken: serviceToken}})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(server)
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := `{"title": "` + bench.Title + `"}`

	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("plain_insert/clients=%d", clients), func(b *testing.B) {
			bench.RunBenchmark(b, b.N, clients, func(ctx context.Context, _ int, user string) error {
				return bench.PlainInsert(ctx, db, user)
			})
		})
		b.Run(fmt.Sprintf("in_process/clients=%d", clients), func(b *testing.B) {
			bench.RunBenchmark(b, b.N, clients, func(ctx context.Context, _ int, user string) error {
				_, err := handler.Handle(ctx, commands.AddTask{
					Header: commands.Header{UserID: user}, Title: bench.Title})
				return err
			})
		})
		b.Run(fmt.Sprintf("http/clients=%d", clients), func(b *testing.B) {
			bench.RunBenchmark(b, b.N, clients, func(ctx context.Context, _ int, user string) error {
				request, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/users/"+user+"/tasks", strings.NewReader(body))
				if err != nil {
					return err
				}
				request.Header.Set("Authorization", "Bearer "+serviceToken)
				resp, err := client.Do(request)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

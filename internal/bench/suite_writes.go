package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/httpapi"
)

// runWrites measures, for each client count, the plain INSERT baseline,
// events.Append, AddTask through a Handler in process and through the HTTP
// API, and then watermill-sql's default publisher against AddTask over the
// Watermill command topic.
func runWrites(ctx context.Context, cfg SuiteConfig) ([]WriteStep, []WatermillStep, error) {
	logger := componentLogger(cfg.Logger)
	if err := CreatePlainEvents(ctx, cfg.DB); err != nil {
		return nil, nil, err
	}
	// AppendTask numbers its tasks itself, from 1, so the commands' tasks
	// must draw ids from far above.
	if _, err := cfg.DB.ExecContext(ctx, `SELECT setval('task_id_seq', greatest($1, (SELECT last_value FROM task_id_seq)))`,
		appendIDSpace); err != nil {
		return nil, nil, err
	}
	handler, err := commands.NewHandler(commands.Config{DB: cfg.DB, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	server, err := startHTTP(cfg, handler)
	if err != nil {
		return nil, nil, err
	}
	defer server.close()

	var writes []WriteStep
	for _, clients := range cfg.Clients {
		load := Load{Clients: clients, Duration: cfg.StepDuration, UserPrefix: "bench-write-"}
		step := WriteStep{Clients: clients}
		cfg.Logger.Info("measuring appends and commands", "clients", clients, "duration_per_step", cfg.StepDuration)
		runs := []struct {
			result *LoadResult
			op     Operation
		}{
			{&step.Plain, func(ctx context.Context, _ int, user string) error { return PlainInsert(ctx, cfg.DB, user) }},
			{&step.Append, func(ctx context.Context, _ int, user string) error { return AppendTask(ctx, cfg.DB, user) }},
			{&step.InProcess, func(ctx context.Context, _ int, user string) error {
				_, err := handler.Handle(ctx, commands.AddTask{Header: commands.Header{UserID: user}, Title: Title})
				return err
			}},
			{&step.HTTP, func(ctx context.Context, _ int, user string) error { return server.addTask(ctx, user) }},
		}
		for _, run := range runs {
			if *run.result, err = load.Run(ctx, run.op); err != nil {
				return nil, nil, err
			}
		}
		writes = append(writes, step)
	}

	watermill, err := runWatermill(ctx, cfg, handler)
	return writes, watermill, err
}

// appendIDSpace is how many task ids appendTask may use, from 1.
const appendIDSpace = 1_000_000_000

var appendIDs atomic.Int64

// AppendTask appends one TaskAdded to a new task stream of user with
// events.Append. It numbers the tasks itself, from 1, without a round trip
// for the id, so commands on the same database must draw task ids from
// above appendIDSpace.
func AppendTask(ctx context.Context, db *sql.DB, user string) error {
	id := appendIDs.Add(1)
	_, err := events.Append(ctx, db, events.AppendRequest{
		UserID: user, Stream: events.TaskStream(id), ExpectedVersion: events.NoStream,
		Events: []events.Event{events.TaskAdded{TaskID: id, Title: Title}},
	})
	return err
}

// runWatermill measures the default publisher and the command transport at
// each client count.
func runWatermill(ctx context.Context, cfg SuiteConfig, handler *commands.Handler) ([]WatermillStep, error) {
	logger := componentLogger(cfg.Logger)
	publisher, err := NewDefaultPublisher(cfg.DB, "bench_publish", logger)
	if err != nil {
		return nil, err
	}
	defer publisher.Close()
	transport, err := StartCommandTransport(ctx, cfg.DB, handler, "suite", cfg.WatermillPoll, logger)
	if err != nil {
		return nil, err
	}

	var steps []WatermillStep
	for _, clients := range cfg.Clients {
		cfg.Logger.Info("measuring the Watermill command topic", "clients", clients, "duration_per_step", cfg.StepDuration)
		load := Load{Clients: clients, Duration: cfg.StepDuration, UserPrefix: "bench-watermill-"}
		step := WatermillStep{Clients: clients}
		if step.Publisher, err = load.Run(ctx, func(_ context.Context, _ int, user string) error {
			return publisher.Publish(user)
		}); err != nil {
			return nil, errors.Join(err, transport.Close())
		}
		if step.Commands, err = load.Run(ctx, func(ctx context.Context, _ int, user string) error {
			_, err := transport.Client.AddTask(ctx, user, Title, "")
			return err
		}); err != nil {
			return nil, errors.Join(err, transport.Close())
		}
		steps = append(steps, step)
	}
	return steps, transport.Close()
}

// httpServer is the HTTP API on a loopback port, with a client that keeps
// its connections alive.
type httpServer struct {
	url    string
	token  string
	client *http.Client
	server *http.Server
	done   chan error
}

func startHTTP(cfg SuiteConfig, handler *commands.Handler) (*httpServer, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(secret)
	api, err := httpapi.New(httpapi.Config{Commands: handler, DB: cfg.DB, Logger: componentLogger(cfg.Logger),
		Auth: httpapi.Auth{ServiceToken: token}})
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on a loopback port for the HTTP API: %w", err)
	}
	s := &httpServer{
		url: "http://" + listener.Addr().String(), token: token,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		server: &http.Server{Handler: api}, done: make(chan error, 1),
	}
	go func() { s.done <- s.server.Serve(listener) }()
	return s, nil
}

// addTask sends one AddTask request and expects 201 Created.
func (s *httpServer) addTask(ctx context.Context, user string) error {
	body := strings.NewReader(`{"title": "` + Title + `"}`)
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/users/"+user+"/tasks", body)
	if err != nil {
		return err
	}
	request.Header.Set("Authorization", "Bearer "+s.token)
	response, err := s.client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(response.Body, 1024))
	if response.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /v1/users/%s/tasks returned status %d: %s", user, response.StatusCode, text)
	}
	return nil
}

func (s *httpServer) close() {
	_ = s.server.Close()
	<-s.done
}

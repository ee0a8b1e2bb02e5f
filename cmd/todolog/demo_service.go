package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/trace"
	"github.com/todolog/todolog/projections"
)

// demoPollInterval is the demo projector's poll interval: shorter than
// serve's default, so the wait for the projections ends soon after they
// catch up.
const demoPollInterval = 100 * time.Millisecond

// demoService is todolog running inside the demo process: the projector,
// the command handler and, for the http and watermill transports, the
// server side of that transport on loopback or on the database's topic.
type demoService struct {
	// Dispatcher sends commands through the chosen transport.
	Dispatcher commands.Dispatcher

	cancel   context.CancelFunc
	closeBus func()
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

// startDemoService starts the service's components. The returned context
// is ctx, canceled with the cause when a component fails, so a replay sent
// through it stops instead of waiting on a service that is gone.
func startDemoService(ctx context.Context, env *environment, db *sql.DB, transport string, concurrency int) (
	*demoService, context.Context, error) {
	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: env.logger})
	if err != nil {
		return nil, nil, err
	}
	projector, err := projections.New(db, projections.Config{Logger: env.logger, PollInterval: demoPollInterval})
	if err != nil {
		return nil, nil, err
	}
	var group runGroup
	group.add(componentProjections, projector.Run)
	s := &demoService{Dispatcher: handler, closeBus: func() {}, done: make(chan struct{})}

	switch transport {
	case transportHTTP:
		token, err := randomToken()
		if err != nil {
			return nil, nil, err
		}
		api, err := httpapi.New(httpapi.Config{Commands: handler, DB: db, Auth: httpapi.Auth{ServiceToken: token}, Logger: env.logger})
		if err != nil {
			return nil, nil, err
		}
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listening on a loopback port for the demo's HTTP API: %w", err)
		}
		group.add(componentHTTP, func(ctx context.Context) error { return serveHTTP(ctx, env, listener, api) })
		client, err := trace.NewHTTPClient("http://"+listener.Addr().String(), token, nil)
		if err != nil {
			listener.Close()
			return nil, nil, err
		}
		s.Dispatcher = client
	case transportWatermill:
		consumer, err := commandConsumer(db, handler, env, 0, 0)
		if err != nil {
			return nil, nil, err
		}
		group.add(componentCommands, consumer)
		bus, closeBus, err := newPostgreSQLBus(db, env, commands.DefaultPollInterval, commands.DefaultBusTimeout)
		if err != nil {
			return nil, nil, err
		}
		s.Dispatcher, s.closeBus = bus, closeBus
	}

	serviceCtx, cancel := context.WithCancel(ctx)
	replayCtx, stopReplay := context.WithCancelCause(ctx)
	s.cancel = func() {
		cancel()
		stopReplay(nil)
	}
	go func() {
		defer close(s.done)
		s.err = group.run(serviceCtx, env)
		stopReplay(fmt.Errorf("the in-process service stopped: %w", errors.Join(s.err, context.Canceled)))
	}()
	select {
	case <-projector.Running():
	case <-s.done:
		s.cancel()
		s.closeBus()
		return nil, nil, fmt.Errorf("starting the projector: %w", s.err)
	}
	return s, replayCtx, nil
}

// Stop stops every component and waits for them. It returns the error of
// a component that failed, and may be called more than once.
func (s *demoService) Stop() error {
	s.stopOnce.Do(func() {
		s.closeBus()
		s.cancel()
		<-s.done
	})
	return s.err
}

// randomToken returns a service token for the demo's own HTTP API.
func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the demo's service token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

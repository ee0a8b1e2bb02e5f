package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/trace"
)

// Transports replay-trace and demo can send commands through.
const (
	transportInProcess = "inprocess"
	transportHTTP      = "http"
	transportWatermill = "watermill"
)

var allTransports = []string{transportInProcess, transportHTTP, transportWatermill}

func checkTransport(name string) error {
	if !slices.Contains(allTransports, name) {
		return usageError("unknown transport %q; choose from %s", name, strings.Join(allTransports, ", "))
	}
	return nil
}

// transportDescriptions are the words the summaries use for each transport.
var transportDescriptions = map[string]string{
	transportInProcess: "in process (commands.Handler)",
	transportHTTP:      "over HTTP",
	transportWatermill: "over Watermill (PostgreSQL commands topic)",
}

// transportOptions are replay-trace's settings for reaching the service.
type transportOptions struct {
	name         string
	url          string // HTTP only
	concurrency  int
	pollInterval time.Duration // Watermill only
	timeout      time.Duration // Watermill only
}

// openTransport returns a dispatcher for the transport in options and a
// function that releases what it opened.
func openTransport(ctx context.Context, env *environment, options transportOptions) (commands.Dispatcher, func(), error) {
	if options.name == transportHTTP {
		if options.url == "" {
			return nil, nil, usageError("--transport http needs --url, such as --url http://127.0.0.1:8080")
		}
		token := os.Getenv("TODOLOG_SERVICE_TOKEN")
		if token == "" {
			env.logger.Warn("TODOLOG_SERVICE_TOKEN is not set, so requests carry no credentials; only a serve started with --insecure-no-auth accepts them")
		}
		client, err := trace.NewHTTPClient(options.url, token, nil)
		if err != nil {
			return nil, nil, usageError("%v", err)
		}
		return client, func() {}, nil
	}

	db, err := openTraceDatabase(ctx, env, options.concurrency)
	if err != nil {
		return nil, nil, err
	}
	if options.name == transportInProcess {
		handler, err := commands.NewHandler(commands.Config{DB: db, Logger: env.logger})
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return handler, func() { db.Close() }, nil
	}

	bus, closeBus, err := newPostgreSQLBus(db, env, options.pollInterval, options.timeout)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return bus, func() {
		closeBus()
		db.Close()
	}, nil
}

// openTraceDatabase opens the service database with a connection for each
// concurrent user and a few for the rest, and checks its schema.
func openTraceDatabase(ctx context.Context, env *environment, concurrency int) (*sql.DB, error) {
	url, err := serviceURL(ctx, env)
	if err != nil {
		return nil, err
	}
	size := concurrency + 8
	db, err := database.Open(ctx, url, database.PoolConfig{MaxOpen: size, MaxIdle: size})
	if err != nil {
		return nil, err
	}
	if err := requireLatestSchema(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// newPostgreSQLBus returns a Bus on the PostgreSQL commands topic and a
// function that closes it and its publisher.
func newPostgreSQLBus(db *sql.DB, env *environment, pollInterval, timeout time.Duration) (*commands.Bus, func(), error) {
	transport := commands.PostgreSQLConfig{DB: db, Logger: env.logger, PollInterval: pollInterval}
	publisher, err := commands.NewPostgreSQLCommandPublisher(transport)
	if err != nil {
		return nil, nil, err
	}
	subscriber, err := commands.NewPostgreSQLReplySubscriber(transport)
	if err != nil {
		publisher.Close()
		return nil, nil, err
	}
	bus, err := commands.NewBus(commands.BusConfig{Publisher: publisher, Subscriber: subscriber, Logger: env.logger, Timeout: timeout})
	if err != nil {
		subscriber.Close()
		publisher.Close()
		return nil, nil, err
	}
	return bus, func() {
		if err := errors.Join(bus.Close(), publisher.Close()); err != nil {
			env.logger.Error("closing the Watermill bus failed", "error", err)
		}
	}, nil
}

// explainTimeout adds the likely cause to a Watermill reply timeout.
func explainTimeout(transport string, err error) error {
	if transport == transportWatermill && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w; is a `todolog serve` with the commands component running on this database?", err)
	}
	return err
}

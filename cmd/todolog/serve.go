package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/httpapi"
	"github.com/todolog/todolog/internal/telemetry"
	"github.com/todolog/todolog/migrations"
	"github.com/todolog/todolog/projections"
)

// Components a serve process can run; several processes can split them.
const (
	componentHTTP        = "http"
	componentCommands    = "commands"
	componentProjections = "projections"
)

var allComponents = []string{componentHTTP, componentCommands, componentProjections}

type serveFlags struct {
	addr         string
	noAuth       bool
	maxBodyBytes int64
	components   string
	migrate      bool
	pool         database.PoolConfig
	retry        database.RetryPolicy
	pollInterval time.Duration
	idleGrace    time.Duration
	idleCeiling  time.Duration
}

func runServe(ctx context.Context, env *environment, args []string) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	var f serveFlags
	var envVars envReader
	flags.StringVar(&f.addr, "addr", envVars.String("TODOLOG_ADDR", "127.0.0.1:8080"), "address the HTTP API listens on ($TODOLOG_ADDR)")
	flags.BoolVar(&f.noAuth, "insecure-no-auth", false, "turn authentication off; for local use only")
	flags.Int64Var(&f.maxBodyBytes, "max-body-bytes", httpapi.DefaultMaxBodyBytes, "largest accepted request body, in bytes")
	flags.StringVar(&f.components, "components", strings.Join(allComponents, ","),
		"comma-separated components to run: "+strings.Join(allComponents, ", "))
	flags.BoolVar(&f.migrate, "migrate", false, "apply pending migrations before serving")
	flags.DurationVar(&f.pollInterval, "projection-poll-interval", envVars.Duration("TODOLOG_PROJECTION_POLL_INTERVAL",
		projections.DefaultPollInterval), "how often an idle projector looks for new events ($TODOLOG_PROJECTION_POLL_INTERVAL)")
	flags.DurationVar(&f.idleGrace, "idle-grace", envVars.Duration("TODOLOG_IDLE_GRACE", projections.DefaultIdleGrace),
		"how long projectors and the command consumer find nothing before they poll less often ($TODOLOG_IDLE_GRACE)")
	flags.DurationVar(&f.idleCeiling, "idle-poll-ceiling", envVars.Duration("TODOLOG_IDLE_POLL_CEILING", projections.DefaultIdleCeiling),
		"longest wait between polls of a quiet database; appends of this process wake the projectors at once "+
			"($TODOLOG_IDLE_POLL_CEILING)")
	addPoolFlags(flags, &f.pool, &envVars)
	flags.IntVar(&f.retry.MaxAttempts, "db-retry-attempts", envVars.Int("TODOLOG_DB_RETRY_ATTEMPTS", database.DefaultRetryMaxAttempts),
		"attempts of a command or query after transient database errors, the first included; 1 turns retries off ($TODOLOG_DB_RETRY_ATTEMPTS)")
	flags.DurationVar(&f.retry.MaxElapsed, "db-retry-timeout", envVars.Duration("TODOLOG_DB_RETRY_TIMEOUT", database.DefaultRetryMaxElapsed),
		"start no retry of a command or query later than this after its first attempt ($TODOLOG_DB_RETRY_TIMEOUT)")
	if err := envVars.Err(); err != nil {
		return err
	}
	if err := flags.Parse(args); err != nil {
		return flagError(err)
	}
	if flags.NArg() > 0 {
		return usageError("unexpected argument %q", flags.Arg(0))
	}
	components, err := parseComponents(f.components)
	if err != nil {
		return err
	}
	if err := f.retry.Validate(); err != nil {
		return usageError("--db-retry-attempts, --db-retry-timeout: %v", err)
	}

	if f.migrate {
		if err := migrateUp(ctx, env); err != nil {
			return err
		}
	}
	url, err := serviceURL(ctx, env)
	if err != nil {
		return err
	}
	db, err := database.Open(ctx, url, f.pool)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := requireLatestSchema(ctx, db); err != nil {
		return err
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db, "todolog"), telemetry.NewPollCollector())

	var group runGroup
	var projector *projections.Projector
	if slices.Contains(components, componentProjections) {
		projector, err = projections.New(db, projections.Config{Logger: env.logger, PollInterval: f.pollInterval,
			IdleGrace: f.idleGrace, IdleCeiling: f.idleCeiling})
		if err != nil {
			return err
		}
		group.add(componentProjections, projector.Run)
	}
	registry.MustRegister(telemetry.NewProjectionCollector(db, projector, env.logger))

	handler, err := commands.NewHandler(commands.Config{DB: db, Logger: env.logger, Retry: f.retry})
	if err != nil {
		return err
	}
	if slices.Contains(components, componentCommands) {
		run, err := commandConsumer(db, handler, env, f.idleGrace, f.idleCeiling)
		if err != nil {
			return err
		}
		group.add(componentCommands, run)
	}

	if slices.Contains(components, componentHTTP) {
		api, err := httpapi.New(httpapi.Config{
			Commands: handler,
			DB:       db,
			Auth: httpapi.Auth{
				ServiceToken: os.Getenv("TODOLOG_SERVICE_TOKEN"),
				JWTSecret:    []byte(os.Getenv("TODOLOG_JWT_SECRET")),
				Disabled:     f.noAuth,
			},
			MaxBodyBytes: f.maxBodyBytes,
			QueryRetry:   f.retry,
			Registerer:   registry,
			Logger:       env.logger,
		})
		if err != nil {
			return err
		}
		listener, err := net.Listen("tcp", f.addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", f.addr, err)
		}
		group.add(componentHTTP, func(ctx context.Context) error { return serveHTTP(ctx, env, listener, api) })
	}

	env.logger.Info("serving", "components", components)
	err = group.run(ctx, env)
	env.logger.Info("stopped")
	return err
}

// commandConsumer returns the run function of a Watermill router that
// handles commands from the PostgreSQL commands topic and publishes their
// replies.
func commandConsumer(db *sql.DB, handler *commands.Handler, env *environment, idleGrace, idleCeiling time.Duration) (func(context.Context) error, error) {
	transport := commands.PostgreSQLConfig{DB: db, Logger: env.logger, IdleGrace: idleGrace, IdleCeiling: idleCeiling}
	subscriber, err := commands.NewPostgreSQLCommandSubscriber(transport)
	if err != nil {
		return nil, err
	}
	publisher, err := commands.NewPostgreSQLReplyPublisher(transport)
	if err != nil {
		return nil, err
	}
	processor, err := commands.NewProcessor(commands.ProcessorConfig{
		Subscriber: subscriber, Publisher: publisher, Handler: handler, Logger: env.logger,
	})
	if err != nil {
		return nil, err
	}
	// Watermill logs each subscriber and handler start at Info; serve logs
	// its own start, so those go to Debug.
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NewSlogLoggerWithLevelMapping(env.logger,
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}))
	if err != nil {
		return nil, err
	}
	processor.AddToRouter(router)
	return func(ctx context.Context) error {
		env.logger.Info("command consumer starting", "topic", commands.CommandTopic)
		return router.Run(ctx)
	}, nil
}

// serveHTTP serves on listener until ctx ends, then drains requests for up
// to 10 s.
func serveHTTP(ctx context.Context, env *environment, listener net.Listener, handler http.Handler) error {
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	env.logger.Info("HTTP API listening", "addr", listener.Addr().String())

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		return fmt.Errorf("HTTP server stopped: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down the HTTP server: %w", err)
	}
	return nil
}

func parseComponents(list string) ([]string, error) {
	var components []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allComponents, name) {
			return nil, usageError("unknown component %q; choose from %s", name, strings.Join(allComponents, ", "))
		}
		components = append(components, name)
	}
	if len(components) == 0 {
		return nil, usageError("--components names no component; choose from %s", strings.Join(allComponents, ", "))
	}
	return components, nil
}

func addPoolFlags(flags *flag.FlagSet, pool *database.PoolConfig, env *envReader) {
	flags.IntVar(&pool.MaxOpen, "db-max-open", env.Int("TODOLOG_DB_MAX_OPEN", 10), "maximum open database connections ($TODOLOG_DB_MAX_OPEN)")
	flags.IntVar(&pool.MaxIdle, "db-max-idle", env.Int("TODOLOG_DB_MAX_IDLE", 2), "maximum idle database connections, -1 for none ($TODOLOG_DB_MAX_IDLE)")
	flags.DurationVar(&pool.MaxIdleTime, "db-max-idle-time", env.Duration("TODOLOG_DB_MAX_IDLE_TIME", 5*time.Minute),
		"close a connection idle this long ($TODOLOG_DB_MAX_IDLE_TIME)")
	flags.DurationVar(&pool.MaxLifetime, "db-max-lifetime", env.Duration("TODOLOG_DB_MAX_LIFETIME", 30*time.Minute),
		"close a connection this long after it opened ($TODOLOG_DB_MAX_LIFETIME)")
}

// requireLatestSchema stops the service from running on a schema older or
// newer than its binary, with the command that fixes it.
func requireLatestSchema(ctx context.Context, db *sql.DB) error {
	latest := int(migrations.Latest(migrations.FS()))
	var version int
	var dirty bool
	err := db.QueryRowContext(ctx, `SELECT version, dirty FROM `+migrations.VersionTable).Scan(&version, &dirty)
	switch {
	case errors.Is(err, sql.ErrNoRows) || isUndefinedTable(err):
		return fmt.Errorf("the database has no schema yet: run `todolog migrate up` (or serve --migrate)")
	case err != nil:
		return fmt.Errorf("reading the schema version: %w", err)
	case dirty:
		return fmt.Errorf("the schema is dirty at version %d: run `todolog migrate status` for what to do", version)
	case version < latest:
		return fmt.Errorf("the schema is at version %d but this binary needs %d: run `todolog migrate up` (or serve --migrate)", version, latest)
	case version > latest:
		return fmt.Errorf("the schema is at version %d, newer than this binary's %d: upgrade todolog", version, latest)
	}
	return nil
}

func isUndefinedTable(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42P01"
}

func migrateUp(ctx context.Context, env *environment) error {
	url, err := migrationURL(ctx, env)
	if err != nil {
		return err
	}
	migrator, err := migrations.New(ctx, migrations.Config{URL: url, Logger: env.logger})
	if err != nil {
		return err
	}
	defer migrator.Close()
	return migrator.Up(ctx)
}

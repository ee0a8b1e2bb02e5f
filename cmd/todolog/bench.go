package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/internal/bench"
	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/migrations"
	"github.com/todolog/todolog/projections"
)

const benchUsage = `Usage: todolog bench [FLAGS]

Runs the benchmark suite and prints Markdown tables: append and command
rates at each client count, commands over the Watermill topic, projection
catch-up, rebuild, one user's replay, the latest-messages query, end-to-end
lag at a steady load and the process's peak memory. Each figure stands next
to a baseline measured in the same run, with their ratio.

It creates a scratch database on the server of DATABASE_URL, or of the
embedded default cluster, migrates it, and drops it at the end unless
--keep is given. The defaults take about 5 minutes on 2 cores; --quick
runs every step at a small size in under half a minute.

Flags:`

// benchFlags are the settings of bench, before --quick fills in the sizes
// that were not given.
type benchFlags struct {
	clients       string
	duration      time.Duration
	catchUpEvents int
	catchUpUsers  int
	queryMessages int
	queries       int
	replays       int
	lagRate       int
	lagDuration   time.Duration
	pollInterval  time.Duration
	watermillPoll time.Duration
	keep          bool
	quick         bool
	// explicitlySet names the flags given on the command line.
	explicitlySet map[string]bool
	parsedClients []int
}

// quickSizes are the sizes --quick sets, unless the flag is given too.
var quickSizes = map[string]string{
	"duration":        "300ms",
	"catch-up-events": "2000",
	"catch-up-users":  "20",
	"query-messages":  "200",
	"queries":         "50",
	"replays":         "3",
	"lag-rate":        "50",
	"lag-duration":    "1s",
	"poll-interval":   "25ms",
}

func runBench(ctx context.Context, env *environment, args []string) error {
	f, err := parseBenchFlags(env, args)
	if err != nil {
		return err
	}
	serverURL, err := serviceURL(ctx, env)
	if err != nil {
		return err
	}
	scratchURL, drop, err := createScratchDatabase(ctx, env, serverURL)
	if err != nil {
		return err
	}
	defer func() {
		if f.keep {
			env.logger.Info("kept the scratch database", "url", redactPassword(scratchURL))
			return
		}
		if err := drop(); err != nil {
			env.logger.Error("dropping the scratch database failed; drop it by hand", "url", redactPassword(scratchURL), "error", err)
		}
	}()

	db, err := database.Open(ctx, scratchURL, database.PoolConfig{MaxOpen: 64, MaxIdle: 64})
	if err != nil {
		return err
	}
	defer db.Close()
	report, err := bench.RunSuite(ctx, bench.SuiteConfig{
		DB: db, Clients: f.parsedClients, StepDuration: f.duration,
		CatchUpEvents: f.catchUpEvents, CatchUpUsers: f.catchUpUsers,
		QueryMessages: f.queryMessages, Queries: f.queries, Replays: f.replays,
		LagRate: f.lagRate, LagDuration: f.lagDuration, PollInterval: f.pollInterval,
		WatermillPoll: f.watermillPoll, Logger: env.logger,
	})
	if err != nil {
		return fmt.Errorf("running the benchmarks: %w", err)
	}
	report.WriteMarkdown(env.stdout)
	return nil
}

func parseBenchFlags(env *environment, args []string) (benchFlags, error) {
	flags := flag.NewFlagSet("bench", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() {
		fmt.Fprintln(env.stderr, benchUsage)
		flags.PrintDefaults()
	}
	var f benchFlags
	flags.StringVar(&f.clients, "clients", "1,4,16", "comma-separated client counts of the append, command and Watermill steps")
	flags.DurationVar(&f.duration, "duration", 10*time.Second, "how long each append, command and Watermill step runs")
	flags.IntVar(&f.catchUpEvents, "catch-up-events", 200_000, "events generated for the catch-up and rebuild steps")
	flags.IntVar(&f.catchUpUsers, "catch-up-users", 1000, "users the generated events are spread over")
	flags.IntVar(&f.queryMessages, "query-messages", 10_000, "messages in the conversation that is queried and whose user is replayed")
	flags.IntVar(&f.queries, "queries", 2000, "latest-messages queries per side")
	flags.IntVar(&f.replays, "replays", 5, "replays of the user per side")
	flags.IntVar(&f.lagRate, "lag-rate", 200, "commands per second of the end-to-end lag step")
	flags.DurationVar(&f.lagDuration, "lag-duration", 30*time.Second, "how long the end-to-end lag step runs")
	flags.DurationVar(&f.pollInterval, "poll-interval", projections.DefaultPollInterval, "projector poll interval in the lag step")
	flags.DurationVar(&f.watermillPoll, "watermill-poll", 50*time.Millisecond, "poll interval of the Watermill command transport")
	flags.BoolVar(&f.keep, "keep", false, "keep the scratch database and log its URL")
	flags.BoolVar(&f.quick, "quick", false, "small sizes for a smoke test; flags given explicitly still apply")
	if err := flags.Parse(args); err != nil {
		return benchFlags{}, flagError(err)
	}
	if flags.NArg() > 0 {
		return benchFlags{}, usageError("unexpected argument %q", flags.Arg(0))
	}
	f.explicitlySet = map[string]bool{}
	flags.Visit(func(fl *flag.Flag) { f.explicitlySet[fl.Name] = true })
	if f.quick {
		for name, value := range quickSizes {
			if !f.explicitlySet[name] {
				if err := flags.Set(name, value); err != nil {
					return benchFlags{}, err
				}
			}
		}
	}

	for _, field := range strings.Split(f.clients, ",") {
		clients, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || clients < 1 {
			return benchFlags{}, usageError("--clients %q must list positive integers, such as 1,4,16", f.clients)
		}
		f.parsedClients = append(f.parsedClients, clients)
	}
	return f, nil
}

// createScratchDatabase creates and migrates a database named
// todolog_bench_<time>_<random> on the server of serverURL, and returns its
// URL and a function that drops it.
func createScratchDatabase(ctx context.Context, env *environment, serverURL string) (string, func() error, error) {
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return "", nil, err
	}
	name := "todolog_bench_" + time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(suffix)
	scratchURL, err := withDatabaseName(serverURL, name)
	if err != nil {
		return "", nil, err
	}
	admin, err := database.Open(ctx, serverURL, database.PoolConfig{MaxOpen: 1, MaxIdle: 1})
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		return "", nil, fmt.Errorf("creating the scratch database %s: %w", name, err)
	}
	drop := func() error {
		// The caller's context may be cancelled by now, as after Ctrl-C.
		dropCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := database.Open(dropCtx, serverURL, database.PoolConfig{MaxOpen: 1, MaxIdle: 1})
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.ExecContext(dropCtx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`)
		return err
	}
	env.logger.Info("created the scratch database", "database", name)

	// Migrations need a direct connection: behind a pooler the service's
	// URL is rejected, so the scratch database is migrated through
	// MIGRATE_DATABASE_URL's server when that is set.
	migrateURL := scratchURL
	if direct := os.Getenv("MIGRATE_DATABASE_URL"); direct != "" {
		if migrateURL, err = withDatabaseName(direct, name); err != nil {
			return "", nil, errors.Join(err, drop())
		}
	}
	migrator, err := migrations.New(ctx, migrations.Config{URL: migrateURL, Logger: env.logger})
	if err == nil {
		err = migrator.Up(ctx)
		migrator.Close()
	}
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("migrating the scratch database %s: %w", name, err), drop())
	}
	return scratchURL, drop, nil
}

// withDatabaseName returns rawURL with its database replaced by name.
func withDatabaseName(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("the database URL is not a postgres:// URL, so a scratch database cannot be named in it")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redactPassword returns rawURL with its password replaced by xxxxx.
func redactPassword(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

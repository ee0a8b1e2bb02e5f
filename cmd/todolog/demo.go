package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/internal/trace"
	"github.com/todolog/todolog/projections"
)

const demoUsage = `Usage: todolog demo [FLAGS]

Runs todolog end to end on the embedded default database, or DATABASE_URL:
migrates it, starts the projector and the command handler in this process,
replays a chat trace as new users, waits for the projections, prints a
summary, and checks that the read tables equal a fresh projection of the
log, that every user's hash chain verifies, and that one user's history
replays to that user's rows. It exits with status 1 when a check fails.

Each run adds users named "<run>.<trace user>", so repeated runs on one
database add to it; the log is append-only and nothing is reset.

Flags:`

// demoCatchUpTimeout bounds the wait for the projections after the replay.
const demoCatchUpTimeout = 5 * time.Minute

// demoFlags are the settings of demo.
type demoFlags struct {
	traceFile  string
	traceUsers int
	seed       uint64
	users      int
	speed      float64
	run        string
	transport  string
	sampleUser string
	noProgress bool
}

func runDemo(ctx context.Context, env *environment, args []string) error {
	f, err := parseDemoFlags(env, args)
	if err != nil {
		return err
	}
	t, source, err := loadDemoTrace(f)
	if err != nil {
		return err
	}
	if f.run == "" {
		f.run = "demo-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := trace.CheckRunID(f.run); err != nil {
		return usageError("--run: %v", err)
	}
	prefix := f.run + "."
	if f.sampleUser == "" {
		f.sampleUser = t.BusiestUser()
	} else if !slices.Contains(t.Users(), f.sampleUser) {
		return usageError("--sample-user %q is not a user of the trace", f.sampleUser)
	}

	if err := migrateUp(ctx, env); err != nil {
		return err
	}
	db, err := openTraceDatabase(ctx, env, f.users)
	if err != nil {
		return err
	}
	defer db.Close()
	service, replayCtx, err := startDemoService(ctx, env, db, f.transport, f.users)
	if err != nil {
		return err
	}
	defer service.Stop()

	env.logger.Info("replaying the demo trace", "trace", source, "run", f.run, "lines", len(t.Lines),
		"users", len(t.Users()), "transport", f.transport)
	bar := newProgressBar(env.stderr, len(t.Lines), "lines", !f.noProgress)
	report, err := trace.Replay(replayCtx, trace.Config{
		Dispatcher: service.Dispatcher, RunID: f.run, UserPrefix: prefix, Concurrency: f.users,
		Speed: f.speed, Logger: env.logger, OnLine: bar.Add,
	}, t)
	bar.Finish()
	if err != nil {
		if cause := context.Cause(replayCtx); cause != nil && ctx.Err() == nil {
			return fmt.Errorf("replaying the trace: %w (%w)", err, cause)
		}
		return fmt.Errorf("replaying the trace: %w", explainTimeout(f.transport, err))
	}

	lags, err := projections.ReadLag(ctx, db)
	if err != nil {
		return err
	}
	waitStart := time.Now()
	if err := waitForTokens(ctx, db, report.Tokens); err != nil {
		return err
	}
	caughtUp := time.Since(waitStart)
	if err := service.Stop(); err != nil {
		return err
	}

	run, err := readDemoCounts(ctx, db, prefix)
	if err != nil {
		return err
	}
	all, err := readDemoCounts(ctx, db, "")
	if err != nil {
		return err
	}
	env.logger.Info("running the demo's checks")
	checks := []demoCheck{
		checkFreshProjection(ctx, db),
		checkHashChains(ctx, db),
		checkSampleUser(ctx, db, prefix+f.sampleUser),
	}
	printDemoSummary(env.stdout, demoSummary{
		run: f.run, source: source, transport: f.transport, concurrency: min(f.users, report.Users),
		report: report, lags: lags, caughtUp: caughtUp, thisRun: run, database: all, checks: checks,
	})
	failures := 0
	for _, c := range checks {
		if !c.passed {
			failures++
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d checks failed", failures, len(checks))
	}
	return nil
}

func parseDemoFlags(env *environment, args []string) (demoFlags, error) {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() {
		fmt.Fprintln(env.stderr, demoUsage)
		flags.PrintDefaults()
	}

	var f demoFlags
	flags.StringVar(&f.traceFile, "trace", "", "replay this trace file (JSON Lines) instead of a generated one")
	flags.IntVar(&f.traceUsers, "trace-users", 20, "users in the generated trace")
	flags.Uint64Var(&f.seed, "seed", 1, "seed of the generated trace; equal seeds give equal traces")
	flags.IntVar(&f.users, "users", 8, "how many trace users are replayed at once")
	flags.Float64Var(&f.speed, "speed", 0, "0 replays as fast as possible; otherwise a factor on the trace's times (1 = real time)")
	flags.StringVar(&f.run, "run", "", "run id: idempotency key prefix and user id prefix (default demo-<UTC time>); "+
		"repeat a run id to resume an interrupted run")
	flags.StringVar(&f.transport, "transport", transportInProcess, "how the replay reaches the in-process service: inprocess, "+
		"http (an HTTP API on a loopback port) or watermill (the PostgreSQL commands topic)")
	flags.StringVar(&f.sampleUser, "sample-user", "", "trace user key whose history is replayed and compared (default the user with the most lines)")
	flags.BoolVar(&f.noProgress, "no-progress", false, "never draw a progress bar (it is drawn only when stderr is a terminal)")

	if err := flags.Parse(args); err != nil {
		return demoFlags{}, flagError(err)
	}
	if flags.NArg() > 0 {
		return demoFlags{}, usageError("unexpected argument %q; pass a trace file with --trace", flags.Arg(0))
	}
	if err := checkTransport(f.transport); err != nil {
		return demoFlags{}, err
	}

	var problems []error
	if f.traceUsers < 1 || f.traceUsers > 9999 {
		problems = append(problems, fmt.Errorf("--trace-users must be 1 to 9999, got %d", f.traceUsers))
	}
	if f.users < 1 {
		problems = append(problems, fmt.Errorf("--users must be 1 or more, got %d", f.users))
	}
	if f.speed < 0 {
		problems = append(problems, fmt.Errorf("--speed must be 0 or positive, got %g", f.speed))
	}
	if len(problems) > 0 {
		return demoFlags{}, usageError("%v", errors.Join(problems...))
	}
	return f, nil
}

// loadDemoTrace returns the trace to replay and a description of where it
// came from.
func loadDemoTrace(f demoFlags) (*trace.Trace, string, error) {
	if f.traceFile != "" {
		if _, err := os.Stat(f.traceFile); err != nil {
			return nil, "", fmt.Errorf("--trace: %w", err)
		}
		t, err := trace.ReadFile(f.traceFile)
		return t, f.traceFile, err
	}
	t := trace.Generate(trace.GenerateConfig{Users: f.traceUsers, Seed: f.seed})
	return t, fmt.Sprintf("generated (%d users, seed %d)", f.traceUsers, f.seed), nil
}

// waitForTokens waits until the projections have applied every token's
// event, within demoCatchUpTimeout in all.
func waitForTokens(ctx context.Context, db events.DBTX, tokens []trace.Token) error {
	deadline := time.Now().Add(demoCatchUpTimeout)
	for _, token := range tokens {
		cursor, err := commands.ParseToken(token.Token)
		if err != nil {
			return err
		}
		if err := projections.WaitFor(ctx, db, token.UserID, cursor, time.Until(deadline)); err != nil {
			return fmt.Errorf("waiting for the projections to catch up: %w", err)
		}
	}
	return nil
}

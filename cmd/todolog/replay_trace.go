package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/trace"
)

const replayTraceUsage = `Usage: todolog replay-trace [FLAGS] FILE

Replays a chat-backend trace (JSON Lines, one message per line) against
todolog: each line becomes an AppendMessage, each tool call a task command.
Every command carries an idempotency key made of the run id, the line's seq
and the tool call's index, so running the same file again with the same
--run and --user-prefix writes nothing twice and resumes where a crashed
run stopped.

Flags:`

const replayTraceEnvironment = `
Environment:
  TODOLOG_SERVICE_TOKEN  bearer token for --transport http
  DATABASE_URL           database for --transport inprocess and watermill;
                         unset means the embedded default cluster`

// replayTraceFlags are the settings of replay-trace.
type replayTraceFlags struct {
	transport  transportOptions
	speed      float64
	run        string
	userPrefix string
	noProgress bool
}

func runReplayTrace(ctx context.Context, env *environment, args []string) error {
	flags := flag.NewFlagSet("replay-trace", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() {
		fmt.Fprintln(env.stderr, replayTraceUsage)
		flags.PrintDefaults()
		fmt.Fprintln(env.stderr, replayTraceEnvironment)
	}
	var f replayTraceFlags
	flags.StringVar(&f.transport.name, "transport", transportInProcess,
		"how commands reach todolog: inprocess (commands.Handler on the database), http (a running serve at --url), "+
			"or watermill (the PostgreSQL commands topic; needs a serve with the commands component)")
	flags.StringVar(&f.transport.url, "url", "", "base URL of `todolog serve` for --transport http, such as http://127.0.0.1:8080")
	flags.IntVar(&f.transport.concurrency, "users", 8, "how many trace users are replayed at once; each user's lines stay in order")
	flags.Float64Var(&f.speed, "speed", 0, "0 sends as fast as the service allows; otherwise a factor on the trace's times (1 = real time, 60 = a minute per second)")
	flags.StringVar(&f.run, "run", "", "idempotency key prefix (default trace- and the first 16 hex digits of the file's SHA-256)")
	flags.StringVar(&f.userPrefix, "user-prefix", "", "text put before each trace user key to form the todolog user id")
	flags.DurationVar(&f.transport.pollInterval, "poll-interval", commands.DefaultPollInterval,
		"for --transport watermill: how often the reply subscriber looks for replies")
	flags.DurationVar(&f.transport.timeout, "timeout", commands.DefaultBusTimeout,
		"for --transport watermill: how long to wait for each command's reply")
	flags.BoolVar(&f.noProgress, "no-progress", false, "never draw a progress bar (it is drawn only when stderr is a terminal)")
	files, err := parseInterspersed(flags, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		flags.Usage()
		return usageError("expected one trace file, got %d arguments", len(files))
	}
	if err := checkTransport(f.transport.name); err != nil {
		return err
	}
	if f.transport.concurrency < 1 {
		return usageError("--users must be 1 or more, got %d", f.transport.concurrency)
	}
	if f.speed < 0 {
		return usageError("--speed must be 0 or positive, got %g", f.speed)
	}

	t, err := trace.ReadFile(files[0])
	if err != nil {
		return err
	}
	if f.run == "" {
		f.run = trace.DefaultRunID(t.Digest)
	}
	if err := trace.CheckRunID(f.run); err != nil {
		return usageError("--run: %v", err)
	}
	dispatcher, closeTransport, err := openTransport(ctx, env, f.transport)
	if err != nil {
		return err
	}
	defer closeTransport()

	env.logger.Info("replaying a trace", "file", files[0], "run", f.run, "lines", len(t.Lines), "users", len(t.Users()),
		"transport", f.transport.name)
	bar := newProgressBar(env.stderr, len(t.Lines), "lines", !f.noProgress)
	report, err := trace.Replay(ctx, trace.Config{
		Dispatcher:  dispatcher,
		RunID:       f.run,
		UserPrefix:  f.userPrefix,
		Concurrency: f.transport.concurrency,
		Speed:       f.speed,
		Logger:      env.logger,
		OnLine:      bar.Add,
	}, t)
	bar.Finish()
	printReplayReport(env.stdout, files[0], f, len(t.Lines), report)
	if err != nil {
		return explainTimeout(f.transport.name, err)
	}
	return nil
}

func printReplayReport(w io.Writer, file string, f replayTraceFlags, lines int, report trace.Report) {
	fmt.Fprintf(w, "Replayed %s %s, run %s, %s users, %d at a time\n", file, transportDescriptions[f.transport.name],
		f.run, formatCount(report.Users), min(f.transport.concurrency, report.Users))
	fmt.Fprintf(w, "  lines     %s of %s\n", formatCount(report.Lines), formatCount(lines))
	fmt.Fprintf(w, "  commands  %s: %s written, %s duplicates (handled by an earlier run), %s changed nothing\n",
		formatCount(report.Commands), formatCount(report.Commands-report.Duplicates-report.Unchanged),
		formatCount(report.Duplicates), formatCount(report.Unchanged))
	fmt.Fprintf(w, "  time      %s, %s commands/s\n", report.Elapsed.Round(time.Millisecond),
		formatCount(int(float64(report.Commands)/max(report.Elapsed.Seconds(), 0.001))))
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(flags *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := flags.Parse(args); err != nil {
			return nil, flagError(err)
		}
		if flags.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, flags.Arg(0))
		args = flags.Args()[1:]
	}
}

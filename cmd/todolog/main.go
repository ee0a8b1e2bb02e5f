// Command todolog is the event-sourced persistence service behind a
// todo-list chatbot. Run `todolog help` for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment carries what every subcommand shares.
type environment struct {
	logger *slog.Logger
	stdout io.Writer
	stderr io.Writer
}

func subcommands() []command {
	return []command{
		{"db", "manage the embedded default PostgreSQL cluster (start, stop, status, url)", runDB},
		{"migrate", "apply, revert, inspect and validate schema migrations", runMigrate},
		{"serve", "run the HTTP API, command consumer and projectors", runServe},
		{"projections", "show projection lag, resolve parked events, rebuild read tables", runProjections},
		{"replay", "stream one user's history, or rebuild their state at a time or sequence", runReplay},
		{"verify", "recompute hash chains and report the first broken link", runVerify},
		{"replay-trace", "send a chat-backend trace (JSON Lines) to todolog as commands", runReplayTrace},
		{"demo", "migrate, serve in process, replay a trace, and check the result end to end", runDemo},
		{"bench", "run the benchmark suite on a scratch database and print Markdown tables", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	logger, err := newLogger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "todolog: %v\n", err)
		return 2
	}
	env := &environment{logger: logger, stdout: stdout, stderr: stderr}

	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range subcommands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errHelpShown):
			return 0
		case errors.Is(err, errVerifyFailed):
			return 1
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "todolog %s: %v\n", c.name, err)
			return 2
		case errors.Is(err, context.Canceled):
			logger.Info("interrupted", "command", c.name)
			return 130
		default:
			fmt.Fprintf(stderr, "todolog %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "todolog: unknown command %q; run `todolog help` for the list\n", args[0])
	return 2
}

// errUsage marks errors in the command line itself; they exit with code 2.
var errUsage = errors.New("invalid usage")

// errHelpShown means a subcommand printed its usage for -h or --help, which
// is not a failure: the process exits with code 0.
var errHelpShown = errors.New("help shown")

// flagError turns a flag parsing error into a usage error, or into
// errHelpShown for -h and --help.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelpShown
	}
	return usageError("%v", err)
}

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "todolog: event-sourced persistence for a todo-list chatbot")
	fmt.Fprintln(w, "\nUsage: todolog COMMAND [ARGUMENTS]\n\nCommands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Environment:
  DATABASE_URL           PostgreSQL URL of the service; unset means the embedded
                         default cluster, created and started on first use
  MIGRATE_DATABASE_URL   direct (not pooled) URL for migrations; defaults to DATABASE_URL
  TODOLOG_HOME           where the embedded cluster lives (default ~/.local/share/todolog,
                         /var/lib/todolog for root)
  TODOLOG_LOG_LEVEL      debug, info, warn or error (default info)
  TODOLOG_LOG_FORMAT     text or json (default text)`)
}

func newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if value := os.Getenv("TODOLOG_LOG_LEVEL"); value != "" {
		if err := level.UnmarshalText([]byte(value)); err != nil {
			return nil, fmt.Errorf("TODOLOG_LOG_LEVEL %q must be debug, info, warn or error", value)
		}
	}
	options := &slog.HandlerOptions{Level: level}
	switch format := strings.ToLower(os.Getenv("TODOLOG_LOG_FORMAT")); format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, options)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, options)), nil
	default:
		return nil, fmt.Errorf("TODOLOG_LOG_FORMAT %q must be text or json", format)
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/todolog/todolog/migrations"
)

const migrateUsage = `Usage: todolog migrate [--migrate-url URL] ACTION

Actions:
  up          apply every pending migration
  down N      revert the N most recent migrations
  status      show the current version, pending migrations and what to do
  goto V      migrate up or down to version V
  force V     mark version V as current without running SQL (repairs a dirty state)
  validate    apply pending migrations and their down files inside a transaction
              that is rolled back, to catch a bad migration before it runs for real`

func runMigrate(ctx context.Context, env *environment, args []string) error {
	flags := flag.NewFlagSet("migrate", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() { fmt.Fprintln(env.stderr, migrateUsage) }
	urlFlag := flags.String("migrate-url", "", "direct PostgreSQL URL for migrations (default $MIGRATE_DATABASE_URL, then $DATABASE_URL)")
	if err := flags.Parse(args); err != nil {
		return flagError(err)
	}
	args = flags.Args()
	if len(args) == 0 {
		flags.Usage()
		return usageError("missing action")
	}

	action, argument, err := parseMigrateAction(args)
	if err != nil {
		return err
	}
	url := *urlFlag
	if url == "" {
		if url, err = migrationURL(ctx, env); err != nil {
			return err
		}
	}
	migrator, err := migrations.New(ctx, migrations.Config{URL: url, Logger: env.logger})
	if err != nil {
		return err
	}
	defer migrator.Close()

	switch action {
	case "up":
		if err := migrator.Up(ctx); err != nil {
			return err
		}
		return printStatus(ctx, env, migrator)
	case "down":
		if err := migrator.Down(ctx, argument); err != nil {
			return err
		}
		return printStatus(ctx, env, migrator)
	case "goto":
		if err := migrator.Goto(ctx, uint(argument)); err != nil {
			return err
		}
		return printStatus(ctx, env, migrator)
	case "force":
		if err := migrator.Force(ctx, argument); err != nil {
			return err
		}
		return printStatus(ctx, env, migrator)
	case "status":
		return printStatus(ctx, env, migrator)
	case "validate":
		steps, err := migrator.Validate(ctx)
		if err != nil {
			return err
		}
		if len(steps) == 0 {
			fmt.Fprintln(env.stdout, "No pending migration to validate.")
			return nil
		}
		for _, step := range steps {
			line := fmt.Sprintf("ok  %-45s %v", step.File.Path, step.Duration.Round(time.Microsecond))
			if step.Note != "" {
				line += " (" + step.Note + ")"
			}
			fmt.Fprintln(env.stdout, line)
		}
		fmt.Fprintln(env.stdout, "Every pending migration applied and reverted cleanly; the transaction was rolled back.")
		return nil
	}
	return nil
}

func parseMigrateAction(args []string) (string, int, error) {
	action := args[0]
	switch action {
	case "up", "status", "validate":
		if len(args) != 1 {
			return "", 0, usageError("%s takes no argument", action)
		}
		return action, 0, nil
	case "down", "goto", "force":
		if len(args) != 2 {
			return "", 0, usageError("%s needs one number, such as `todolog migrate %s 2`", action, action)
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return "", 0, usageError("%s: %q is not a number", action, args[1])
		}
		switch {
		case action == "down" && n < 1:
			return "", 0, usageError("down needs a number of steps of 1 or more, got %d", n)
		case action == "goto" && n < 0:
			return "", 0, usageError("goto needs a version of 0 or more, got %d", n)
		case action == "force" && n < -1:
			return "", 0, usageError("force needs a version, or -1 for none, got %d", n)
		}
		return action, n, nil
	default:
		return "", 0, usageError("unknown action %q; run `todolog migrate --help`", action)
	}
}

func printStatus(ctx context.Context, env *environment, migrator *migrations.Migrator) error {
	status, err := migrator.Status(ctx)
	if err != nil {
		return err
	}
	version := "none"
	if status.Version >= 0 {
		version = strconv.Itoa(status.Version)
	}
	fmt.Fprintf(env.stdout, "version: %s (latest %d)\ndirty:   %t\n", version, status.Latest, status.Dirty)
	if status.LastStep != nil {
		step := status.LastStep
		outcome := "unfinished"
		switch {
		case step.Error != "":
			outcome = "failed"
		case step.FinishedAt != nil:
			outcome = "done"
		}
		fmt.Fprintf(env.stdout, "last:    %s %d -> %d at %s (%s)\n", step.Direction, step.FromVersion, step.ToVersion,
			step.StartedAt.Format(time.RFC3339), outcome)
	}
	fmt.Fprintln(env.stdout, status.Advice)
	return nil
}

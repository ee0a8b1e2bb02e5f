package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/todolog/todolog/internal/database"
	"github.com/todolog/todolog/internal/pgcluster"
)

func runDB(ctx context.Context, env *environment, args []string) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(env.stderr, "Usage: todolog db start | stop | status | url\n\n"+
			"Manages the embedded default PostgreSQL cluster under $TODOLOG_HOME.")
		return nil
	}
	if len(args) != 1 {
		return usageError("expected one of start, stop, status, url")
	}
	cluster, err := pgcluster.Default(ctx, env.logger)
	if err != nil {
		return err
	}
	switch args[0] {
	case "start":
		url, err := cluster.EnsureStarted(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "PostgreSQL is running on port %d; data in %s\n%s\n", cluster.Port(), cluster.DataDir(), url)
		return nil
	case "stop":
		return cluster.Stop(ctx)
	case "status":
		if !cluster.Initialized() {
			fmt.Fprintf(env.stdout, "not created: %s does not exist yet; `todolog db start` creates it\n", cluster.DataDir())
			return nil
		}
		if err := cluster.Init(ctx); err != nil {
			return err
		}
		running, err := cluster.Running(ctx)
		if err != nil {
			return err
		}
		state := "stopped"
		if running {
			state = "running"
		}
		fmt.Fprintf(env.stdout, "%s: port %d, data in %s, log in %s\n", state, cluster.Port(), cluster.DataDir(), cluster.LogFile())
		return nil
	case "url":
		url, err := cluster.EnsureStarted(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, url)
		return nil
	default:
		return usageError("unknown db action %q: expected start, stop, status or url", args[0])
	}
}

// serviceURL returns DATABASE_URL, or the embedded default database,
// started on demand.
func serviceURL(ctx context.Context, env *environment) (string, error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		return url, nil
	}
	cluster, err := pgcluster.Default(ctx, env.logger)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL is not set and the embedded default database is unavailable: %w", err)
	}
	return cluster.EnsureStarted(ctx)
}

// migrationURL returns MIGRATE_DATABASE_URL, or else what serviceURL
// returns.
func migrationURL(ctx context.Context, env *environment) (string, error) {
	if url := os.Getenv("MIGRATE_DATABASE_URL"); url != "" {
		return url, nil
	}
	return serviceURL(ctx, env)
}

// openToolDatabase opens a small pool on the service database for a
// one-shot operator command such as replay, verify or projections.
func openToolDatabase(ctx context.Context, env *environment) (*sql.DB, error) {
	url, err := serviceURL(ctx, env)
	if err != nil {
		return nil, err
	}
	return database.Open(ctx, url, database.PoolConfig{MaxOpen: 2, MaxIdle: 2})
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/todolog/todolog/projections"
)

const projectionsUsage = `Usage: todolog projections ACTION

Actions:
  status                        lag of every projection: events and time behind the log
  parked [PROJECTION]           events a projection parked, and those held behind them
  retry PROJECTION POSITION     apply a parked event again, then the user's held events
  skip PROJECTION POSITION      give up on a parked event, then apply the user's held events
  rebuild [--projection NAME] [--dry-run]
                                rebuild read tables from the log while the service runs`

func runProjections(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.stderr, projectionsUsage)
		if len(args) == 0 {
			return usageError("missing action")
		}
		return nil
	}
	if args[0] == "rebuild" {
		return runProjectionsRebuild(ctx, env, args[1:])
	}
	db, err := openToolDatabase(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()

	switch action := args[0]; action {
	case "status":
		lags, err := projections.ReadLag(ctx, db)
		if err != nil {
			return err
		}
		table := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(table, "PROJECTION\tCHECKPOINT\tEVENTS BEHIND\tTIME BEHIND\tPARKED")
		for _, lag := range lags {
			parked, err := projections.ListParked(ctx, db, lag.Projection)
			if err != nil {
				return err
			}
			fmt.Fprintf(table, "%s\t%d.%d\t%d\t%s\t%d\n", lag.Projection, lag.Checkpoint.TransactionID,
				lag.Checkpoint.Position, lag.Events, lag.Behind.Round(time.Millisecond), len(parked))
		}
		return table.Flush()
	case "parked":
		names := projections.Names()
		if len(args) == 2 {
			names = []string{args[1]}
		} else if len(args) > 2 {
			return usageError("parked takes at most one projection name")
		}
		table := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(table, "PROJECTION\tPOSITION\tUSER\tEVENT TYPE\tATTEMPTS\tHELD\tPARKED AT\tERROR")
		count := 0
		for _, name := range names {
			parked, err := projections.ListParked(ctx, db, name)
			if err != nil {
				return err
			}
			for _, p := range parked {
				count++
				fmt.Fprintf(table, "%s\t%d\t%s\t%s\t%d\t%t\t%s\t%s\n", p.Projection, p.Position, p.UserID, p.EventType,
					p.Attempts, p.Held, p.ParkedAt.Format(time.RFC3339), p.Error)
			}
		}
		if err := table.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%d parked or held event(s)\n", count)
		return nil
	case "retry", "skip":
		if len(args) != 3 {
			return usageError("%s needs a projection and a position, such as `todolog projections %s tasks 1234`", action, action)
		}
		position, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil || position <= 0 {
			return usageError("position %q must be a positive integer", args[2])
		}
		resolve := projections.RetryParked
		if action == "skip" {
			resolve = projections.SkipParked
		}
		resolution, err := resolve(ctx, db, args[1], position)
		if err != nil {
			return err
		}
		env.logger.Info("resolved parked event", "action", action, "projection", args[1], "position", position,
			"released", resolution.Released)
		fmt.Fprintf(env.stdout, "%s of event %d in %s done; %d held event(s) applied after it\n",
			action, position, args[1], resolution.Released)
		if resolution.Blocked != nil {
			fmt.Fprintf(env.stdout, "held event %d failed and is now parked: %s\n",
				resolution.Blocked.Position, resolution.Blocked.Error)
		}
		return nil
	default:
		return usageError("unknown action %q; run `todolog projections --help`", action)
	}
}

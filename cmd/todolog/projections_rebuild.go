package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/todolog/todolog/projections"
)

const rebuildUsage = `Usage: todolog projections rebuild [FLAGS]

Rebuilds the read tables of each projection from the event log while the
service runs, in one transaction per projection. The transaction locks the
projection's read tables against writes and its checkpoint row, which pauses
that projection's consumers in every process. It then deletes the rows,
applies the log's events up to the oldest transaction open on the server,
and moves the checkpoint there, so the live projector applies the rest.
Readers keep seeing the old rows until the commit. Parked events are tried
again; one that still fails is parked again. Interrupting the command rolls
back the projection in progress.

Flags:`

// rebuildFlags are the settings of projections rebuild.
type rebuildFlags struct {
	projection string
	dryRun     bool
	noProgress bool
}

func runProjectionsRebuild(ctx context.Context, env *environment, args []string) error {
	f, err := parseRebuildFlags(env, args)
	if err != nil {
		return err
	}
	db, err := openToolDatabase(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()

	cfg := projections.RebuildConfig{DryRun: f.dryRun, Logger: env.logger}
	if f.projection != "all" {
		cfg.Projections = []string{f.projection}
	}
	// drawn counts the events the current bar has shown.
	var bar *progressBar
	var drawn int64
	cfg.OnStart = func(_ string, total int64) {
		bar.Finish()
		bar, drawn = newProgressBar(env.stderr, int(total), "events", !f.noProgress), 0
	}
	cfg.OnProgress = func(_ string, read int64) {
		for ; drawn < read; drawn++ {
			bar.Add()
		}
	}
	result, err := projections.Rebuild(ctx, db, cfg)
	bar.Finish()
	printRebuildResult(env.stdout, result)
	return err
}

func parseRebuildFlags(env *environment, args []string) (rebuildFlags, error) {
	flags := flag.NewFlagSet("projections rebuild", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() {
		fmt.Fprintln(env.stderr, rebuildUsage)
		flags.PrintDefaults()
	}
	var f rebuildFlags
	flags.StringVar(&f.projection, "projection", "all", "projection to rebuild: "+strings.Join(projections.Names(), ", ")+" or all")
	flags.BoolVar(&f.dryRun, "dry-run", false, "rebuild inside the transaction, print how the rebuilt tables differ from the live ones, and roll back")
	flags.BoolVar(&f.noProgress, "no-progress", false, "never draw a progress bar (it is drawn only when stderr is a terminal)")
	if err := flags.Parse(args); err != nil {
		return rebuildFlags{}, flagError(err)
	}
	if flags.NArg() > 0 {
		return rebuildFlags{}, usageError("unexpected argument %q; choose a projection with --projection", flags.Arg(0))
	}
	if f.projection != "all" && !slices.Contains(projections.Names(), f.projection) {
		return rebuildFlags{}, usageError("--projection %q is not a projection; use %s or all",
			f.projection, strings.Join(projections.Names(), ", "))
	}
	return f, nil
}

// printRebuildResult writes one paragraph per projection: what was applied,
// a table comparing each read table with the live one, and the events
// parked again.
func printRebuildResult(w io.Writer, result projections.RebuildResult) {
	for i, rebuilt := range result.Projections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		verb := "Rebuilt"
		if rebuilt.DryRun {
			verb = "Dry run (rolled back) of"
		}
		fmt.Fprintf(w, "%s projection %s in %s: %s events applied from below transaction %d; checkpoint %d.%d; %d attempt(s).\n",
			verb, rebuilt.Projection, rebuilt.Duration.Round(time.Millisecond), formatCount(rebuilt.Applied),
			rebuilt.Bound, rebuilt.Checkpoint.TransactionID, rebuilt.Checkpoint.Position, rebuilt.Attempts)

		table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		header := "TABLE\tLIVE ROWS\tREBUILT ROWS\tEQUAL"
		if rebuilt.DryRun {
			header += "\tMISSING\tEXTRA\tCHANGED\tFIRST DIFFERING IDS"
		}
		fmt.Fprintln(table, header)
		for _, c := range rebuilt.Tables {
			line := fmt.Sprintf("%s\t%s\t%s\t%s", c.Table, formatCount(c.Live.Rows), formatCount(c.Rebuilt.Rows), yesNo(c.Equal()))
			if d := c.Differences; d != nil {
				line += fmt.Sprintf("\t%d\t%d\t%d\t%s", d.Missing, d.Extra, d.Changed, formatIDs(d.SampleIDs))
			}
			fmt.Fprintln(table, line)
		}
		_ = table.Flush()

		switch {
		case rebuilt.Equal():
			fmt.Fprintln(w, "The rebuilt tables equal the live ones.")
		case rebuilt.DryRun:
			fmt.Fprintln(w, "The rebuilt tables differ from the live ones; nothing was changed.")
		default:
			fmt.Fprintln(w, "The rebuilt tables differed from the live ones and replaced them.")
		}
		if len(rebuilt.Parked) > 0 {
			fmt.Fprintf(w, "%d event(s) failed again or wait behind one, and are parked (see `todolog projections parked`):\n",
				len(rebuilt.Parked))
			parked := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(parked, "POSITION\tUSER\tEVENT TYPE\tHELD\tERROR")
			for _, p := range rebuilt.Parked {
				fmt.Fprintf(parked, "%d\t%s\t%s\t%s\t%s\n", p.Position, p.UserID, p.EventType, yesNo(p.Held), p.Error)
			}
			_ = parked.Flush()
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func formatIDs(ids []int64) string {
	if len(ids) == 0 {
		return "-"
	}
	text := make([]string, len(ids))
	for i, id := range ids {
		text[i] = fmt.Sprint(id)
	}
	return strings.Join(text, ",")
}

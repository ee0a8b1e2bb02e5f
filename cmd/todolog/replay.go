package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/todolog/todolog/events"
	"github.com/todolog/todolog/replay"
)

const replayUsage = `Usage: todolog replay --user USER [--until TIME | --upto SEQUENCE] [--format jsonl|table]

Without --until or --upto, streams the user's events in order: as JSON Lines
ending with the chain head (the default), or as a table. With one of them,
prints the user's tasks and conversations as they stood then.`

func runReplay(ctx context.Context, env *environment, args []string) error {
	flags := flag.NewFlagSet("replay", flag.ContinueOnError)
	flags.SetOutput(env.stderr)
	flags.Usage = func() { fmt.Fprintln(env.stderr, replayUsage); flags.PrintDefaults() }
	user := flags.String("user", "", "the user whose history to replay (required)")
	until := flags.String("until", "", "reconstruct the state as of this RFC 3339 time, such as 2026-03-01T12:00:00Z")
	upto := flags.Int64("upto", 0, "reconstruct the state as of this user sequence number")
	format := flags.String("format", "jsonl", "output format: jsonl or table")
	if err := flags.Parse(args); err != nil {
		return flagError(err)
	}
	if err := events.CheckUserID(*user); err != nil {
		return usageError("--user: %v", err)
	}
	if *format != "jsonl" && *format != "table" {
		return usageError("--format %q must be jsonl or table", *format)
	}
	var point replay.Point
	if *until != "" {
		t, err := time.Parse(time.RFC3339Nano, *until)
		if err != nil {
			return usageError("--until %q is not an RFC 3339 time such as 2026-03-01T12:00:00Z", *until)
		}
		point.Until = t
	}
	if *upto < 0 {
		return usageError("--upto must be a positive sequence number, got %d", *upto)
	}
	point.UpTo = *upto

	db, err := openToolDatabase(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()

	if point != (replay.Point{}) {
		state, err := replay.StateAt(ctx, db, *user, point)
		if err != nil {
			return err
		}
		if *format == "table" {
			return printState(env.stdout, state)
		}
		encoder := json.NewEncoder(env.stdout)
		encoder.SetEscapeHTML(false)
		return encoder.Encode(state)
	}
	if *format == "table" {
		return printHistory(ctx, env.stdout, db, *user)
	}
	_, err = replay.Export(ctx, db, *user, env.stdout)
	return err
}

func printHistory(ctx context.Context, w io.Writer, db events.DBTX, user string) error {
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "SEQUENCE\tPOSITION\tOCCURRED AT\tSTREAM\tVERSION\tEVENT\tPAYLOAD")
	for r, err := range events.ReadUser(ctx, db, user, 0) {
		if err != nil {
			return err
		}
		payload := string(r.Payload)
		if len(payload) > 80 {
			payload = payload[:77] + "..."
		}
		fmt.Fprintf(table, "%d\t%d\t%s\t%s\t%d\t%s\t%s\n", r.UserSequence, r.Position,
			r.OccurredAt.Format(time.RFC3339), r.Stream, r.StreamVersion, r.Type, payload)
	}
	return table.Flush()
}

func printState(w io.Writer, state replay.State) error {
	fmt.Fprintf(w, "user %s as of sequence %d\n\n", state.UserID, state.Sequence)
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "TASK\tDONE\tTITLE\tDESCRIPTION")
	for _, t := range state.Tasks {
		fmt.Fprintf(table, "%d\t%t\t%s\t%s\n", t.ID, t.Completed, t.Title, t.Description)
	}
	if err := table.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, c := range state.Conversations {
		fmt.Fprintf(w, "conversation %d (%d messages)\n", c.ID, len(c.Messages))
		for _, m := range c.Messages {
			// Continuation lines of a multi-line message line up under its
			// first line.
			content := strings.ReplaceAll(m.Content, "\n", "\n"+strings.Repeat(" ", 13))
			fmt.Fprintf(w, "  %-10s %s\n", m.Role+":", content)
		}
	}
	return nil
}

// errVerifyFailed marks a verification that found a broken chain; the
// details were printed already.
var errVerifyFailed = errors.New("verification failed")

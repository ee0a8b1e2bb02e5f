package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes the report as Markdown tables. Every ratio is
// todolog's figure divided by its baseline's, so below 1 means slower for
// rates and above 1 means slower for times.
func (r Report) WriteMarkdown(w io.Writer) {
	cfg := r.Config
	fmt.Fprintf(w, "Suite run in %s. Ratios are todolog divided by the baseline measured in the same run.\n\n",
		r.Elapsed.Round(time.Second))

	fmt.Fprintf(w, "### Appends and commands\n\n")
	fmt.Fprintf(w, "Calls per second, %s per cell; each client writes as a user of its own. Baseline: a plain single-row `INSERT` of an event-shaped row into an unpartitioned table without triggers.\n\n",
		cfg.StepDuration)
	fmt.Fprintln(w, "| clients | plain INSERT | events.Append | ratio | AddTask in process | ratio | AddTask over HTTP | ratio | Append p50 / p99 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.Writes {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", s.Clients,
			rate(s.Plain), rate(s.Append), ratio(s.Append.Rate(), s.Plain.Rate()),
			rate(s.InProcess), ratio(s.InProcess.Rate(), s.Plain.Rate()),
			rate(s.HTTP), ratio(s.HTTP.Rate(), s.Plain.Rate()),
			ms(s.Append.Percentile(0.5)), ms(s.Append.Percentile(0.99)))
	}

	fmt.Fprintf(w, "\n### Commands over the Watermill topic\n\n")
	fmt.Fprintf(w, "AddTask round trips through a Bus and a Processor on watermill-sql (poll interval %s), %s per cell. Baseline: watermill-sql's default PostgreSQL publisher (`DefaultPostgreSQLSchema`) publishing one message per call.\n\n",
		cfg.WatermillPoll, cfg.StepDuration)
	fmt.Fprintln(w, "| clients | default publisher | AddTask round trip | ratio | publish p50 / p99 | round trip p50 / p99 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, s := range r.Watermill {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s / %s | %s / %s |\n", s.Clients,
			rate(s.Publisher), rate(s.Commands), ratio(s.Commands.Rate(), s.Publisher.Rate()),
			ms(s.Publisher.Percentile(0.5)), ms(s.Publisher.Percentile(0.99)),
			ms(s.Commands.Percentile(0.5)), ms(s.Commands.Percentile(0.99)))
	}

	read := r.ReadSide
	fmt.Fprintf(w, "\n### Read side\n\n")
	fmt.Fprintf(w, "A log of %s events (%s generated over %d users, the rest written by the steps above). ",
		count(read.LogEvents), count(int64(cfg.CatchUpEvents)), cfg.CatchUpUsers)
	fmt.Fprintf(w, "The replayed and queried user has %s events and a conversation of %d messages. ",
		count(read.ReplayEvents), cfg.QueryMessages)
	fmt.Fprintf(w, "Lag: %d commands/s through commands.Handler for %s over %d users, projector poll interval %s.\n\n",
		cfg.LagRate, cfg.LagDuration, lagUsers, cfg.PollInterval)
	fmt.Fprintln(w, "| what | baseline | baseline figure | todolog | ratio |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	perSecond := func(d time.Duration) float64 { return float64(read.LogEvents) / d.Seconds() }
	rows := [][]string{
		{"catch-up from empty checkpoints, both projections (log events/s)", "set-based `INSERT ... SELECT` of all three tables",
			fmt.Sprintf("%.0f /s", perSecond(read.SetBased)), fmt.Sprintf("%.0f /s", perSecond(read.CatchUp)),
			ratio(perSecond(read.CatchUp), perSecond(read.SetBased))},
		{"`projections.Rebuild` of both projections (time)", "set-based `INSERT ... SELECT` of all three tables",
			seconds(read.SetBased), seconds(read.Rebuild), ratio(read.Rebuild.Seconds(), read.SetBased.Seconds())},
		{fmt.Sprintf("replay of one user, `replay.Export` (median of %d)", cfg.Replays), "plain `SELECT` of the user's events",
			ms(read.PlainReplay.Percentile(0.5)), ms(read.Replay.Percentile(0.5)),
			ratio(read.Replay.Percentile(0.5).Seconds(), read.PlainReplay.Percentile(0.5).Seconds())},
		{fmt.Sprintf("latest %d messages, `projections.ListMessages`, median of %d", latestMessages, cfg.Queries), "plain `SELECT` by the messages index",
			ms(read.PlainQuery.Percentile(0.5)), ms(read.Query.Percentile(0.5)),
			ratio(read.Query.Percentile(0.5).Seconds(), read.PlainQuery.Percentile(0.5).Seconds())},
		{fmt.Sprintf("latest %d messages, p99", latestMessages), "plain `SELECT`, p99",
			ms(read.PlainQuery.Percentile(0.99)), ms(read.Query.Percentile(0.99)),
			ratio(read.Query.Percentile(0.99).Seconds(), read.PlainQuery.Percentile(0.99).Seconds())},
		{"end-to-end lag, command committed to row visible, p50", "the command's own latency, p50",
			ms(percentile(r.Lag.Handles, 0.5)), ms(percentile(r.Lag.Lags, 0.5)),
			ratio(percentile(r.Lag.Lags, 0.5).Seconds(), percentile(r.Lag.Handles, 0.5).Seconds())},
		{"end-to-end lag, p99", "the command's own latency, p99",
			ms(percentile(r.Lag.Handles, 0.99)), ms(percentile(r.Lag.Lags, 0.99)),
			ratio(percentile(r.Lag.Lags, 0.99).Seconds(), percentile(r.Lag.Handles, 0.99).Seconds())},
		{"peak memory: max RSS (VmHWM) of the process running the service and the load", "RSS (VmRSS) before the first step",
			mib(r.Memory.StartKiB), mib(r.Memory.PeakKiB), ratio(float64(r.Memory.PeakKiB), float64(r.Memory.StartKiB))},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

func rate(r LoadResult) string { return fmt.Sprintf("%.0f /s", r.Rate()) }

func ratio(value, baseline float64) string {
	if baseline <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", value/baseline)
}

func ms(d time.Duration) string {
	value := Milliseconds(d)
	if value < 10 {
		return fmt.Sprintf("%.2f ms", value)
	}
	return fmt.Sprintf("%.1f ms", value)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

// count writes n with commas between groups of three digits.
func count(n int64) string {
	digits := fmt.Sprint(n)
	var b strings.Builder
	for i, digit := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(digit)
	}
	return b.String()
}

package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/todolog/todolog/internal/trace"
	"github.com/todolog/todolog/projections"
)

// demoSummary is the demo's closing report: counts, timings and checks.
type demoSummary struct {
	run         string
	source      string
	transport   string
	concurrency int
	report      trace.Report
	// lags are the projections' lag when the replay ended, and caughtUp
	// how long they took from then to apply the replay's last command.
	lags     []projections.Lag
	caughtUp time.Duration
	thisRun  demoCounts
	database demoCounts
	checks   []demoCheck
}

func printDemoSummary(w io.Writer, s demoSummary) {
	fmt.Fprintf(w, "\ntodolog demo, run %s\n", s.run)
	fmt.Fprintf(w, "  trace: %s, replayed %s, %d users at a time\n\n", s.source, transportDescriptions[s.transport], s.concurrency)

	fmt.Fprintf(w, "  %-16s %12s %12s\n", "", "this run", "database")
	database := s.database.rows()
	for i, row := range s.thisRun.rows() {
		fmt.Fprintf(w, "  %-16s %12s %12s\n", row.label, formatCount(row.value), formatCount(database[i].value))
	}

	r := s.report
	rate := float64(r.Commands) / max(r.Elapsed.Seconds(), 0.001)
	fmt.Fprintf(w, "\n  throughput       %s commands in %s: %s commands/s", formatCount(r.Commands),
		r.Elapsed.Round(time.Millisecond), formatCount(int(rate)))
	if r.Duplicates > 0 {
		fmt.Fprintf(w, " (%s of them duplicates of an earlier run)", formatCount(r.Duplicates))
	}
	fmt.Fprintln(w)
	var lags []string
	for _, lag := range s.lags {
		lags = append(lags, fmt.Sprintf("%s %s events (%s)", lag.Projection, formatCount(lag.Events), lag.Behind.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "  projection lag   %s when the replay ended; caught up %s later\n",
		strings.Join(lags, ", "), s.caughtUp.Round(time.Millisecond))

	fmt.Fprintln(w, "\nChecks")
	for _, c := range s.checks {
		verdict := "PASS"
		if !c.passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s\n", verdict, c.summary)
	}
}

// Package telemetry exposes todolog's state as Prometheus metrics.
package telemetry

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todolog/todolog/projections"
)

// scrapeTimeout bounds the lag query run at each scrape.
const scrapeTimeout = 3 * time.Second

// ProjectionCollector reports, per projection, the lag behind the log (read
// from the database at scrape time, so every process reports the same
// values) and what this process's projector applied and parked.
type ProjectionCollector struct {
	db        *sql.DB
	projector *projections.Projector
	logger    *slog.Logger

	lagEvents      *prometheus.Desc
	lagSeconds     *prometheus.Desc
	parkedNow      *prometheus.Desc
	applied        *prometheus.Desc
	alreadyApplied *prometheus.Desc
	parked         *prometheus.Desc
}

// NewProjectionCollector returns a collector over db. projector may be nil
// in a process that runs no projector; the per-process counters are then
// left out.
func NewProjectionCollector(db *sql.DB, projector *projections.Projector, logger *slog.Logger) *ProjectionCollector {
	label := []string{"projection"}
	return &ProjectionCollector{
		db: db, projector: projector, logger: logger,
		lagEvents: prometheus.NewDesc("todolog_projection_lag_events",
			"Committed events the projection has not applied yet.", label, nil),
		lagSeconds: prometheus.NewDesc("todolog_projection_lag_seconds",
			"Age of the oldest event the projection has not applied yet; 0 when caught up.", label, nil),
		parkedNow: prometheus.NewDesc("todolog_projection_parked_events",
			"Events parked or held for the projection, waiting for an operator.", label, nil),
		applied: prometheus.NewDesc("todolog_projection_applied_events_total",
			"Events this process applied to the read tables.", label, nil),
		alreadyApplied: prometheus.NewDesc("todolog_projection_reapplied_events_total",
			"Events this process read again after a rolled-back batch and found already applied.", label, nil),
		parked: prometheus.NewDesc("todolog_projection_parked_events_total",
			"Events this process parked, or held behind a parked event.", label, nil),
	}
}

// Describe sends the metric descriptions.
func (c *ProjectionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lagEvents, c.lagSeconds, c.parkedNow, c.applied, c.alreadyApplied, c.parked} {
		ch <- d
	}
}

// Collect reads the lag and the parked counts, and the projector's counters.
// A failed query is logged and its metrics are left out of this scrape.
func (c *ProjectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	lags, err := projections.ReadLag(ctx, c.db)
	if err != nil {
		c.logger.Warn("reading projection lag for metrics failed", "error", err)
	}
	for _, lag := range lags {
		ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(lag.Events), lag.Projection)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, lag.Behind.Seconds(), lag.Projection)
	}
	for _, name := range projections.Names() {
		parked, err := projections.ListParked(ctx, c.db, name)
		if err != nil {
			c.logger.Warn("reading parked events for metrics failed", "projection", name, "error", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.parkedNow, prometheus.GaugeValue, float64(len(parked)), name)
	}
	if c.projector == nil {
		return
	}
	for _, s := range c.projector.Stats() {
		ch <- prometheus.MustNewConstMetric(c.applied, prometheus.CounterValue, float64(s.Applied), s.Projection)
		ch <- prometheus.MustNewConstMetric(c.alreadyApplied, prometheus.CounterValue, float64(s.AlreadyApplied), s.Projection)
		ch <- prometheus.MustNewConstMetric(c.parked, prometheus.CounterValue, float64(s.Parked), s.Projection)
	}
}

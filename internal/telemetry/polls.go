package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todolog/todolog/internal/idlepoll"
)

// PollCollector reports how often each subscriber of this process polled
// the database, so an operator can see the polls thin out while the
// database is quiet.
type PollCollector struct {
	polls *prometheus.Desc
}

// NewPollCollector returns a collector over the process's named pollers.
func NewPollCollector() *PollCollector {
	return &PollCollector{polls: prometheus.NewDesc("todolog_subscriber_polls_total",
		"Queries a subscriber of this process made to look for new events or commands.", []string{"consumer"}, nil)}
}

// Describe sends the metric description.
func (c *PollCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.polls }

// Collect sends one counter per consumer.
func (c *PollCollector) Collect(ch chan<- prometheus.Metric) {
	for name, polls := range idlepoll.TotalPolls() {
		ch <- prometheus.MustNewConstMetric(c.polls, prometheus.CounterValue, float64(polls), name)
	}
}

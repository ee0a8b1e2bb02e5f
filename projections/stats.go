package projections

import "sync/atomic"

// Stats counts what one projection's handler did in this process since the
// Projector was created. A batch that rolls back is read again and its
// events are counted again, so the counts can exceed the events in the log.
type Stats struct {
	Projection string
	// Applied counts events that changed the read tables.
	Applied int64
	// AlreadyApplied counts events the read tables already reflected, read
	// again after a batch committed its writes but not its checkpoint.
	AlreadyApplied int64
	// Ignored counts events of streams the projection does not read.
	Ignored int64
	// Parked counts events parked after their attempts failed, and events
	// held behind them.
	Parked int64
}

type counters struct {
	applied        atomic.Int64
	alreadyApplied atomic.Int64
	ignored        atomic.Int64
	parked         atomic.Int64
}

func (c *counters) snapshot(projectionName string) Stats {
	return Stats{
		Projection:     projectionName,
		Applied:        c.applied.Load(),
		AlreadyApplied: c.alreadyApplied.Load(),
		Ignored:        c.ignored.Load(),
		Parked:         c.parked.Load(),
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Operation is one call of a load, made by client number client (0-based)
// as user. Each client has a user of its own.
type Operation func(ctx context.Context, client int, user string) error

// Load describes a concurrent load: Clients goroutines call an Operation
// until Count calls were made in all or Duration has passed, whichever
// comes first. A zero Count or Duration sets no limit of that kind, but one
// of them must be set.
type Load struct {
	Clients  int
	Count    int
	Duration time.Duration
	// UserPrefix starts every client's user id; a random part and the
	// client number follow, so repeated loads never share users.
	UserPrefix string
}

// LoadResult holds the measurements of one Load.
type LoadResult struct {
	Clients int
	Calls   int
	Elapsed time.Duration
	// Latencies holds every call's duration, sorted.
	Latencies []time.Duration
}

// Rate returns calls per second.
func (r LoadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which the fraction p (0 to 1) of
// the calls fall, or 0 without calls.
func (r LoadResult) Percentile(p float64) time.Duration {
	return percentile(r.Latencies, p)
}

// percentile returns the p quantile of sorted durations, or 0 when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(p*float64(len(sorted))), len(sorted)-1)]
}

// Benchmark is the part of *testing.B that RunBenchmark uses, so this
// package does not import testing.
type Benchmark interface {
	Helper()
	Fatal(args ...any)
	ReportMetric(n float64, unit string)
	ResetTimer()
	StopTimer()
}

// RunBenchmark makes count calls of op (b.N from a Go benchmark) spread
// over clients, and reports calls per second and the median and 99th
// percentile latency as the metrics calls/s, p50-ms and p99-ms.
func RunBenchmark(b Benchmark, count, clients int, op Operation) {
	b.Helper()
	b.ResetTimer()
	result, err := Load{Clients: clients, Count: count, UserPrefix: "bench-"}.Run(context.Background(), op)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(result.Rate(), "calls/s")
	b.ReportMetric(Milliseconds(result.Percentile(0.5)), "p50-ms")
	b.ReportMetric(Milliseconds(result.Percentile(0.99)), "p99-ms")
}

// Milliseconds returns d in milliseconds, with fractions.
func Milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run runs the load and returns its measurements. The first failing call
// stops every client, and its error is returned.
func (l Load) Run(ctx context.Context, op Operation) (LoadResult, error) {
	if l.Clients < 1 {
		return LoadResult{}, fmt.Errorf("a load needs at least one client, got %d", l.Clients)
	}
	if l.Count <= 0 && l.Duration <= 0 {
		return LoadResult{}, errors.New("a load needs a count or a duration")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var deadline time.Time
	var calls atomic.Int64
	latencies := make([][]time.Duration, l.Clients)
	errs := make([]error, l.Clients)
	run := uuid.NewString()[:8]

	start := time.Now()
	if l.Duration > 0 {
		deadline = start.Add(l.Duration)
	}
	var wg sync.WaitGroup
	for client := range l.Clients {
		wg.Go(func() {
			user := fmt.Sprintf("%s%s-%02d", l.UserPrefix, run, client)
			for ctx.Err() == nil {
				if l.Count > 0 && calls.Add(1) > int64(l.Count) {
					return
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				callStart := time.Now()
				if err := op(ctx, client, user); err != nil {
					errs[client] = err
					cancel()
					return
				}
				latencies[client] = append(latencies[client], time.Since(callStart))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return LoadResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return LoadResult{}, err
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return LoadResult{Clients: l.Clients, Calls: len(all), Elapsed: elapsed, Latencies: all}, nil
}

package trace

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// assignUsers splits t's lines among at most n workers, each user's lines
// going to one worker in trace order. Users are dealt out largest first,
// each to the worker with the fewest lines so far, so one user with a very
// long history does not leave the other workers idle at the end.
func assignUsers(t *Trace, n int) [][]Line {
	counts := map[string]int{}
	for _, l := range t.Lines {
		counts[l.User]++
	}
	users := t.Users()
	n = min(n, len(users))
	slices.SortStableFunc(users, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })

	load := make([]int, n)
	workerOf := map[string]int{}
	for _, user := range users {
		least := 0
		for i := range load {
			if load[i] < load[least] {
				least = i
			}
		}
		workerOf[user] = least
		load[least] += counts[user]
	}

	shares := make([][]Line, n)
	for i := range shares {
		shares[i] = make([]Line, 0, load[i])
	}
	for _, l := range t.Lines {
		w := workerOf[l.User]
		shares[w] = append(shares[w], l)
	}
	return shares
}

// pace waits until line l is due: its time since first, divided by speed,
// after start. Speed 0 never waits. It returns ctx's error when ctx ends
// first.
func pace(ctx context.Context, start, first time.Time, speed float64, l Line) error {
	if speed == 0 {
		return nil
	}
	due := start.Add(time.Duration(float64(l.At.Sub(first)) / speed))
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

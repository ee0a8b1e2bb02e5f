package main

import (
	"context"
	"errors"
	"fmt"
)

// runGroup runs the components of a serve process together: when one
// returns, with or without an error, the others are asked to stop, and run
// waits for all of them.
type runGroup struct {
	names []string
	runs  []func(ctx context.Context) error
}

func (g *runGroup) add(name string, run func(ctx context.Context) error) {
	g.names = append(g.names, name)
	g.runs = append(g.runs, run)
}

func (g *runGroup) run(ctx context.Context, env *environment) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		name string
		err  error
	}
	done := make(chan outcome, len(g.runs))
	for i, run := range g.runs {
		go func() { done <- outcome{g.names[i], run(ctx)} }()
	}

	var problems []error
	for range g.runs {
		o := <-done
		if o.err != nil && !errors.Is(o.err, context.Canceled) {
			env.logger.Error("component failed; stopping the others", "component", o.name, "error", o.err)
			problems = append(problems, fmt.Errorf("%s: %w", o.name, o.err))
		} else if ctx.Err() == nil {
			env.logger.Error("component stopped on its own; stopping the others", "component", o.name)
			problems = append(problems, fmt.Errorf("%s stopped unexpectedly", o.name))
		}
		cancel()
	}
	return errors.Join(problems...)
}

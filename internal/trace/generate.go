package trace

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// GenerateConfig sizes a generated trace. Zero fields get the defaults
// below.
type GenerateConfig struct {
	// Users is the number of users, 20 by default.
	Users int
	// Seed selects the content; equal configs give equal traces.
	Seed uint64
	// Start is the earliest time a user may start, 2026-03-01T09:00:00Z by
	// default. Users start within six days of it.
	Start time.Time
}

// Generate builds a deterministic trace in the file format: each user has
// 2 to 5 conversations of 3 to 10 exchanges, a user message and the
// assistant's reply. Replies carry every kind of tool call: one or several
// adds, completes of open tasks, reopens of done ones, title and
// description updates, deletes, and a delete with an add in one reply.
// Calls name only the user's live tasks, as the format requires, and none
// of them changes nothing. Other exchanges carry no calls.
func Generate(cfg GenerateConfig) *Trace {
	cfg.Users = cmp.Or(cfg.Users, 20)
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	}
	type ordered struct {
		line  Line
		user  int
		index int
	}
	var all []ordered
	for u := 1; u <= cfg.Users; u++ {
		for i, l := range generateUser(cfg, u) {
			all = append(all, ordered{l, u, i})
		}
	}
	// Lines with the same time are ordered by user, then by that user's
	// own order, as in recorded traces.
	slices.SortFunc(all, func(a, b ordered) int {
		return cmp.Or(a.line.At.Compare(b.line.At), cmp.Compare(a.user, b.user), cmp.Compare(a.index, b.index))
	})
	t := &Trace{Lines: make([]Line, len(all))}
	for i, o := range all {
		o.line.Seq = int64(i + 1)
		o.line.Number = i + 1
		t.Lines[i] = o.line
	}
	return t
}

// generatedTask is a live task of a user being generated.
type generatedTask struct {
	key         string
	item        string // the title it was added with
	title       string
	description string
	done        bool
}

// userGenerator holds one user's state while their lines are generated.
type userGenerator struct {
	rng     *rand.Rand
	number  int
	at      time.Time
	tasks   []*generatedTask
	counter int
	lines   []Line
}

func generateUser(cfg GenerateConfig, number int) []Line {
	g := &userGenerator{
		rng:    rand.New(rand.NewPCG(cfg.Seed, uint64(number))),
		number: number,
	}
	g.at = cfg.Start.Add(time.Duration(g.rng.IntN(6*24*3600)) * time.Second)
	conversations := 2 + g.rng.IntN(4)
	for c := 1; c <= conversations; c++ {
		if c > 1 {
			gap := 10*time.Minute + time.Duration(g.rng.ExpFloat64()*float64(16*time.Hour))
			g.at = g.at.Add(gap.Truncate(time.Second))
		}
		key := fmt.Sprintf("c-%04d-%02d", number, c)
		exchanges := 3 + g.rng.IntN(8)
		for range exchanges {
			g.exchange(key)
		}
	}
	return g.lines
}

// exchange appends one user message and the assistant's reply.
func (g *userGenerator) exchange(conversation string) {
	var open, done []*generatedTask
	for _, t := range g.tasks {
		if t.done {
			done = append(done, t)
		} else {
			open = append(open, t)
		}
	}
	live := len(g.tasks) > 0
	kinds := []struct {
		weight int
		ok     bool
		run    func() (string, string, []ToolCall)
	}{
		{30, true, g.add},
		{5, true, g.addSeveral},
		{15, len(open) > 0, func() (string, string, []ToolCall) { return g.complete(pick(g.rng, open)) }},
		{6, len(done) > 0, func() (string, string, []ToolCall) { return g.reopen(pick(g.rng, done)) }},
		{6, live, func() (string, string, []ToolCall) { return g.retitle(pick(g.rng, g.tasks)) }},
		{6, live, func() (string, string, []ToolCall) { return g.describe(pick(g.rng, g.tasks)) }},
		{10, live, func() (string, string, []ToolCall) { return g.remove(pick(g.rng, g.tasks)) }},
		{4, live, func() (string, string, []ToolCall) { return g.swap(pick(g.rng, g.tasks)) }},
		{10, true, g.query},
		{8, true, g.chat},
	}
	total := 0
	for _, k := range kinds {
		if k.ok {
			total += k.weight
		}
	}
	roll := g.rng.IntN(total)
	for _, k := range kinds {
		if !k.ok {
			continue
		}
		if roll -= k.weight; roll < 0 {
			asked, answer, calls := k.run()
			g.appendMessage(conversation, RoleUser, asked, nil, 4+g.rng.IntN(37))
			g.appendMessage(conversation, RoleAssistant, answer, calls, 1+g.rng.IntN(6))
			return
		}
	}
}

// appendMessage appends a message delaySeconds after the previous one.
func (g *userGenerator) appendMessage(conversation, role, content string, calls []ToolCall, delaySeconds int) {
	g.at = g.at.Add(time.Duration(delaySeconds) * time.Second)
	g.lines = append(g.lines, Line{
		At: g.at, User: fmt.Sprintf("user-%04d", g.number), Conversation: conversation,
		Role: role, Content: content, ToolCalls: calls,
	})
}

func pick[T any](rng *rand.Rand, list []T) T { return list[rng.IntN(len(list))] }

package trace

import (
	"fmt"
	"slices"
	"strings"
)

// Vocabulary of generated traces. A few entries carry the non-ASCII
// characters recorded traces contain (’ and é).
var (
	generatedItems = []string{
		"buy milk", "call the dentist", "pick up dry cleaning", "renew my passport", "water the plants",
		"pay the electricity bill", "book flights to Lisbon", "fix the bike’s brakes", "return library books",
		"order a café table", "email the landlord", "buy birthday card for Sam", "clean the gutters",
		"schedule a haircut", "get tires checked", "buy eggs", "send the tax forms", "walk the dog",
		"defrost the freezer", "buy bread", "call grandma", "replace the smoke alarm battery",
		"plan the team lunch", "cancel the gym membership", "buy coffee beans", "update my résumé",
	}
	generatedNotes = []string{
		"tomorrow morning", "before Friday", "at 6pm", "next week", "on the way home",
		"the one from the corner shop", "ask about the price first", "by the end of the month",
	}
	generatedChat = [][2]string{
		{"hi there", "Hello! How can I help with your lists today?"},
		{"thanks, that's all", "You're welcome. Have a good day!"},
		{"can I get a large latte with oat milk?", "Sure, a large oat latte. Anything else?"},
		{"what's the weather like?", "I can only help with your lists, sorry."},
		{"hmm, let me think\nI'll be back later", "No problem, I'm here when you need me."},
	}
)

// newTask registers a new live task and returns its add_task call.
func (g *userGenerator) newTask(title string, description *string) ToolCall {
	g.counter++
	key := fmt.Sprintf("t-%04d-%04d", g.number, g.counter)
	task := &generatedTask{key: key, item: title, title: title}
	if description != nil {
		task.description = *description
	}
	g.tasks = append(g.tasks, task)
	return ToolCall{Name: ToolAddTask, Arguments: Arguments{Task: key, Title: &title, Description: description}}
}

func (g *userGenerator) add() (string, string, []ToolCall) {
	item := pick(g.rng, generatedItems)
	if g.rng.IntN(4) == 0 {
		note := pick(g.rng, generatedNotes)
		asked := fmt.Sprintf("remind me to %s %s", item, note)
		return asked, fmt.Sprintf("I'll remind you to %s %s.", item, note), []ToolCall{g.newTask(item, &asked)}
	}
	return fmt.Sprintf("please add %s to my to do list", item), fmt.Sprintf("Added %q to your to-do list.", item),
		[]ToolCall{g.newTask(item, nil)}
}

// addSeveral is a multi-line message pasting several items at once.
func (g *userGenerator) addSeveral() (string, string, []ToolCall) {
	count := 2 + g.rng.IntN(3)
	var items []string
	var calls []ToolCall
	for range count {
		item := pick(g.rng, generatedItems)
		items = append(items, item)
		calls = append(calls, g.newTask(item, nil))
	}
	return "add these:\n" + strings.Join(items, "\n"), fmt.Sprintf("Added %d items to your list.", count), calls
}

func (g *userGenerator) complete(t *generatedTask) (string, string, []ToolCall) {
	t.done = true
	return fmt.Sprintf("cross %s off my list", t.title), fmt.Sprintf("Marked %q as done.", t.title),
		[]ToolCall{{Name: ToolCompleteTask, Arguments: Arguments{Task: t.key}}}
}

func (g *userGenerator) reopen(t *generatedTask) (string, string, []ToolCall) {
	t.done = false
	return fmt.Sprintf("actually I still need to %s", t.title), fmt.Sprintf("I put %q back on your list.", t.title),
		[]ToolCall{{Name: ToolReopenTask, Arguments: Arguments{Task: t.key}}}
}

func (g *userGenerator) retitle(t *generatedTask) (string, string, []ToolCall) {
	old := t.title
	title := t.item + " " + pick(g.rng, generatedNotes)
	if title == old {
		title = t.item
	}
	t.title = title
	return fmt.Sprintf("change %s to %s", old, title), fmt.Sprintf("I changed %q to %q.", old, title),
		[]ToolCall{{Name: ToolUpdateTask, Arguments: Arguments{Task: t.key, Title: &title}}}
}

func (g *userGenerator) describe(t *generatedTask) (string, string, []ToolCall) {
	// An update to the current description would change nothing, which
	// the format does not allow.
	note := pick(g.rng, generatedNotes)
	if note == t.description {
		note = generatedNotes[(slices.Index(generatedNotes, note)+1)%len(generatedNotes)]
	}
	t.description = note
	return fmt.Sprintf("for %s: %s", t.title, note), fmt.Sprintf("Updated the details of %q.", t.title),
		[]ToolCall{{Name: ToolUpdateTask, Arguments: Arguments{Task: t.key, Description: &note}}}
}

func (g *userGenerator) remove(t *generatedTask) (string, string, []ToolCall) {
	g.drop(t)
	return fmt.Sprintf("remove %s from my list", t.title), fmt.Sprintf("Removed %q.", t.title),
		[]ToolCall{{Name: ToolDeleteTask, Arguments: Arguments{Task: t.key}}}
}

// swap deletes one task and adds another in one reply.
func (g *userGenerator) swap(t *generatedTask) (string, string, []ToolCall) {
	g.drop(t)
	item := pick(g.rng, generatedItems)
	calls := []ToolCall{{Name: ToolDeleteTask, Arguments: Arguments{Task: t.key}}, g.newTask(item, nil)}
	return fmt.Sprintf("remove %s and add %s", t.title, item), fmt.Sprintf("Removed %q and added %q.", t.title, item), calls
}

func (g *userGenerator) query() (string, string, []ToolCall) {
	var open []string
	for _, t := range g.tasks {
		if !t.done {
			open = append(open, t.title)
		}
	}
	if len(open) == 0 {
		return "what's on my to do list?", "Your to-do list is empty.", nil
	}
	return "what's on my to do list?", "You have: " + strings.Join(open, "; ") + ".", nil
}

func (g *userGenerator) chat() (string, string, []ToolCall) {
	pair := pick(g.rng, generatedChat)
	return pair[0], pair[1], nil
}

func (g *userGenerator) drop(t *generatedTask) {
	g.tasks = slices.DeleteFunc(g.tasks, func(other *generatedTask) bool { return other == t })
}

package trace

import (
	"encoding/json"
	"fmt"
	"io"
)

// Users returns the trace's user keys in the order they first appear.
func (t *Trace) Users() []string {
	seen := map[string]bool{}
	var users []string
	for _, l := range t.Lines {
		if !seen[l.User] {
			seen[l.User] = true
			users = append(users, l.User)
		}
	}
	return users
}

// Commands counts the commands a replay sends: one AppendMessage per line
// and one command per tool call.
func (t *Trace) Commands() int {
	n := len(t.Lines)
	for _, l := range t.Lines {
		n += len(l.ToolCalls)
	}
	return n
}

// BusiestUser returns the user key with the most lines; on a tie, the one
// that reached that count first.
func (t *Trace) BusiestUser() string {
	counts := map[string]int{}
	best := ""
	for _, l := range t.Lines {
		counts[l.User]++
		if best == "" || counts[l.User] > counts[best] {
			best = l.User
		}
	}
	return best
}

// Write writes t in the file format Read reads, one JSON object per line.
func (t *Trace) Write(w io.Writer) error {
	encoder := json.NewEncoder(w)
	encoder.SetEscapeHTML(false)
	for _, l := range t.Lines {
		if err := encoder.Encode(l); err != nil {
			return fmt.Errorf("writing the line with seq %d: %w", l.Seq, err)
		}
	}
	return nil
}

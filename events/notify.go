package events

import "sync"

// Notifier wakes the readers of the log in this process when an append
// commits, so a reader that slowed its polling while the log was quiet
// looks again at once. Create one with NewNotifier; a nil *Notifier never
// fires and ignores Notify.
type Notifier struct {
	mu   sync.Mutex
	next chan struct{}
}

// NewNotifier returns a Notifier with no waiters.
func NewNotifier() *Notifier {
	return &Notifier{next: make(chan struct{})}
}

// Notify wakes every reader waiting on a channel from Next.
func (n *Notifier) Notify() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.next)
	n.next = make(chan struct{})
}

// Next returns a channel that the next Notify closes. For a nil Notifier
// it returns nil, which blocks forever in a select.
func (n *Notifier) Next() <-chan struct{} {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.next
}

// Appends is notified after each Append given a *sql.DB, whose events have
// committed when it returns, so the log's readers in this process, such as
// the projectors, look again at once. An Append inside a caller's
// transaction does not notify, because its events commit later.
var Appends = NewNotifier()

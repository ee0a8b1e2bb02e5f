// Package replay serves auditors. It streams one user's history, rebuilds
// that user's tasks and conversations as they stood at a moment or a
// sequence number, and verifies hash chains. An export is a history as JSON
// Lines ending with the chain head, which a later verification compares
// against to prove nothing was altered or removed since.
//
// Everything here reads one user's events in sequence order through
// events.ReadUser, which pages by key, so memory stays constant however
// long the history is; only StateAt holds the state it rebuilds.
package replay

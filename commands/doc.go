// Package commands is todolog's write path: the command types, their
// validation, the decisions that turn a command into events, and the Handler
// that appends those events to the log.
//
// A command is handled in four steps:
//
//  1. Validate checks the input without touching the database. Every bad
//     field is reported at once as a *ValidationError (errors.Is ErrInvalid).
//  2. If the caller's command id was appended before, Handle returns that
//     first result with Duplicate set, so a retried request writes nothing.
//  3. The stream's current state is read and a decision function
//     (DecideAddTask, DecideUpdateTask, ...) returns the events to append, or
//     ErrNotFound, or no events with a Note when nothing would change.
//  4. The events are appended with the stream version that was read. When
//     another writer got there first, Handle reads the stream again and
//     retries, unless the caller gave an expected version: then the stale
//     write fails with ErrConflict.
//
// The ids users see (task, conversation and message ids) are allocated from
// PostgreSQL sequences after the decision and stored in the events, so a
// rebuild of the read tables reproduces them.
//
// Every Result carries a consistency token naming the last event the command
// wrote or found; a read-your-writes query waits until the projections have
// applied it.
//
// Commands reach the Handler in process, over HTTP (internal/httpapi), or as
// Watermill messages: a Processor handles the commands topic and replies on
// the reply topic, and a Bus is the client side, a Dispatcher like the
// Handler, so Client works over either (docs/commands-watermill.md).
package commands

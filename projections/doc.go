// Package projections maintains the read tables (tasks, conversations,
// messages) from the event log and runs the chat backend's queries on them.
//
// # Projector
//
// A Projector runs each projection (Tasks, Conversations) as a handler of
// one Watermill router, fed by its own watermill-sql subscriber whose
// consumer group is the projection's name. The subscriber reads the events
// table through a custom schema adapter in the order watermill-sql's
// PostgreSQL queue uses: by transaction id, then position, and only below
// pg_snapshot_xmin(pg_current_snapshot()). An event whose transaction
// commits after a higher-numbered one is therefore delivered in its
// transaction's place and never skipped. This global order keeps each
// user's events in order.
//
// Each batch runs in one REPEATABLE READ transaction that locks the
// projection's row in projection_checkpoints, applies the events through
// the transaction watermill-sql puts in the message context, and moves the
// checkpoint. The read-table writes and the checkpoint commit together, so
// a crash loses nothing and applies nothing twice. Every row also stores the
// stream version of the last event applied to it, so an event read again
// after a partial commit changes nothing. Several processes may run the
// same projections: the row lock lets one apply a batch at a time, and the
// others retry after a serialization error.
//
// # Poison events
//
// An event a projection cannot apply (an unknown type, a payload that
// breaks a constraint or contradicts the read tables) is tried MaxAttempts
// times, then parked in parked_events, counted in Stats and logged at Error
// with its position and user_id. The checkpoint moves on, so other users'
// events keep flowing. The same user's later events of that projection are
// parked as held, so that user's order is kept. An operator lists them with
// ListParked, then calls RetryParked or SkipParked on the user's earliest
// one. Both then release the held events in order. Failures that are not
// the event's fault (lost connection, serialization failure) roll the batch
// back to be read again instead.
//
// # Queries
//
// ListTasks, GetTask, ListConversations, GetConversation and ListMessages
// take the user id and return ErrNotFound for another user's ids.
// WaitFor gives read-your-writes: it waits until every projection has
// applied the event a consistency token names. ReadLag reports how far each
// projection is behind the log.
package projections

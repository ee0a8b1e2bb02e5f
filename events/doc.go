// Package events defines todolog's event catalog, its JSON codec and the
// append-only, user-partitioned event log in PostgreSQL.
//
// Append writes one or more events to one stream in a single statement. The
// database assigns each event its global position, transaction id, stream
// version, gapless per-user sequence and hash-chain link (see
// migrations/000002_assign_sequence_and_hash.up.sql), so every client gets
// the same guarantees. ReadStream, ReadUser and ReadAll page through the log
// in constant memory.
package events

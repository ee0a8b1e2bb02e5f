// Package trace replays a chat-backend trace against todolog: a JSON Lines
// file in which each line is one user or assistant message of a
// conversation, and assistant lines may carry task tool calls.
//
// Read parses and checks a trace, naming the line and the rule for every
// problem. Generate builds a deterministic trace for demonstrations. Replay
// sends each line as an AppendMessage command and each tool call as a task
// command, through any commands.Dispatcher: the in-process Handler, the
// Watermill Bus, or the HTTP client in this package.
//
// A trace names conversations and tasks by its own keys (c-0001-01,
// t-0001-0001), and todolog allocates the real ids. Replay keeps a map from
// keys to ids per user. Every command gets an idempotency key derived from
// the run id, the line's seq and the tool call's index. A rerun of the same
// trace with the same run id therefore writes nothing twice. Each command
// that landed before comes back as a duplicate carrying the first result's
// ids, which rebuilds the map, and the rest are written as new.
package trace

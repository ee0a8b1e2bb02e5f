package commands

import (
	"slices"

	"github.com/todolog/todolog/events"
)

// Result describes a handled command. Its JSON form is the reply a
// transport sends back.
type Result struct {
	// CommandID is the command's idempotency key, generated when the caller
	// gave none.
	CommandID string `json:"command_id"`
	// TaskID, ConversationID and MessageID are set when the command
	// concerns such an entity; AppendMessage sets both of the latter.
	TaskID         int64 `json:"task_id,omitempty"`
	ConversationID int64 `json:"conversation_id,omitempty"`
	MessageID      int64 `json:"message_id,omitempty"`
	// StreamVersion is the stream's version after the command, which is
	// the current version when nothing changed.
	StreamVersion int `json:"stream_version"`
	// Positions are the log positions of the events written, in order, and
	// empty when nothing changed.
	Positions []int64 `json:"positions,omitempty"`
	// Changed is false when the command found nothing to change; Note then
	// explains why.
	Changed bool `json:"changed"`
	// Duplicate is true when the command id had been appended before; the
	// result is then that first append's.
	Duplicate bool   `json:"duplicate"`
	Note      string `json:"note,omitempty"`
	// Token is the consistency token of the last event written, or of the
	// stream's last event when nothing changed; see EncodeToken.
	Token string `json:"token"`
}

// appendedResult returns the result of appended, which wrote written.
func appendedResult(appended events.AppendResult, written []events.Event) Result {
	result := Result{
		CommandID:     appended.CommandID,
		StreamVersion: appended.StreamVersion,
		Positions:     slices.Clone(appended.Positions),
		Changed:       true,
		Token: EncodeToken(events.Cursor{
			TransactionID: appended.TransactionID,
			Position:      appended.LastPosition(),
		}),
	}
	result.setStreamID(appended.Stream)
	for _, e := range written {
		if message, ok := e.(events.MessageAppended); ok {
			result.MessageID = message.MessageID
		}
	}
	return result
}

// unchangedResult returns the result of a command that wrote nothing to a
// stream at version whose last event is at head.
func unchangedResult(commandID string, stream events.Stream, version int, head events.Cursor, note string) Result {
	result := Result{
		CommandID:     commandID,
		StreamVersion: version,
		Note:          note,
		Token:         EncodeToken(head),
	}
	result.setStreamID(stream)
	return result
}

func (r *Result) setStreamID(stream events.Stream) {
	switch stream.Type {
	case events.StreamTask:
		r.TaskID = stream.ID
	case events.StreamConversation:
		r.ConversationID = stream.ID
	}
}

package projections

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/todolog/todolog/events"
)

// Metadata keys of the Watermill messages the projector's subscribers
// deliver. The payload is the event's JSON payload; the metadata carries the
// rest of the stored event, so middleware can log or filter by it.
const (
	metadataPosition      = "position"
	metadataTransactionID = "transaction_id"
	metadataUserID        = "user_id"
	metadataStreamType    = "stream_type"
	metadataStreamID      = "stream_id"
	metadataStreamVersion = "stream_version"
	metadataUserSequence  = "user_sequence"
	metadataEventType     = "event_type"
	metadataSchemaVersion = "schema_version"
	metadataOccurredAt    = "occurred_at"
	metadataRecordedAt    = "recorded_at"
)

// messageFromRecord turns a stored event into a Watermill message whose id
// is the event id.
func messageFromRecord(r events.Record) *message.Message {
	msg := message.NewMessage(r.EventID.String(), message.Payload(r.Payload))
	msg.Metadata.Set(metadataPosition, strconv.FormatInt(r.Position, 10))
	msg.Metadata.Set(metadataTransactionID, strconv.FormatUint(r.TransactionID, 10))
	msg.Metadata.Set(metadataUserID, r.UserID)
	msg.Metadata.Set(metadataStreamType, r.Stream.Type)
	msg.Metadata.Set(metadataStreamID, strconv.FormatInt(r.Stream.ID, 10))
	msg.Metadata.Set(metadataStreamVersion, strconv.Itoa(r.StreamVersion))
	msg.Metadata.Set(metadataUserSequence, strconv.FormatInt(r.UserSequence, 10))
	msg.Metadata.Set(metadataEventType, r.Type)
	msg.Metadata.Set(metadataSchemaVersion, strconv.Itoa(r.SchemaVersion))
	msg.Metadata.Set(metadataOccurredAt, r.OccurredAt.Format(time.RFC3339Nano))
	msg.Metadata.Set(metadataRecordedAt, r.RecordedAt.Format(time.RFC3339Nano))
	return msg
}

// recordFromMessage is the inverse of messageFromRecord. It returns an error
// naming every metadata value it cannot parse.
func recordFromMessage(msg *message.Message) (events.Record, error) {
	var problems []error
	parseInt := func(key string) int64 {
		value, err := strconv.ParseInt(msg.Metadata.Get(key), 10, 64)
		if err != nil {
			problems = append(problems, fmt.Errorf("metadata %s: %w", key, err))
		}
		return value
	}
	parseTime := func(key string) time.Time {
		value, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(key))
		if err != nil {
			problems = append(problems, fmt.Errorf("metadata %s: %w", key, err))
		}
		return value
	}

	r := events.Record{
		Position:      parseInt(metadataPosition),
		UserID:        msg.Metadata.Get(metadataUserID),
		Stream:        events.Stream{Type: msg.Metadata.Get(metadataStreamType), ID: parseInt(metadataStreamID)},
		StreamVersion: int(parseInt(metadataStreamVersion)),
		UserSequence:  parseInt(metadataUserSequence),
		Type:          msg.Metadata.Get(metadataEventType),
		SchemaVersion: int(parseInt(metadataSchemaVersion)),
		Payload:       []byte(msg.Payload),
		OccurredAt:    parseTime(metadataOccurredAt),
		RecordedAt:    parseTime(metadataRecordedAt),
	}
	transactionID, err := strconv.ParseUint(msg.Metadata.Get(metadataTransactionID), 10, 64)
	if err != nil {
		problems = append(problems, fmt.Errorf("metadata %s: %w", metadataTransactionID, err))
	}
	r.TransactionID = transactionID
	if r.EventID, err = uuid.Parse(msg.UUID); err != nil {
		problems = append(problems, fmt.Errorf("message id %q: %w", msg.UUID, err))
	}
	if len(problems) > 0 {
		return events.Record{}, fmt.Errorf("message %s is not an event of the log: %w", msg.UUID, errors.Join(problems...))
	}
	return r, nil
}

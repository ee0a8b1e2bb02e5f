package commands

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// The Watermill transport's topics and metadata keys. A command message
// carries the command's JSON object, as Decode reads it, in its payload.
// Its metadata holds:
//
//   - MetadataCommandName: the command name, such as "AddTask", under the
//     key that cqrs.JSONMarshaler of Watermill v1.4.7 writes.
//   - MetadataOperationID: an id the Processor copies into the reply, so
//     the sender can match them. Without it no reply is sent.
//   - MetadataDeadline (optional): when the sender stops waiting, in RFC 3339
//     with fractions of a second. The Processor does not start a command after
//     that time and cancels its handling then.
//
// docs/commands-watermill.md describes the reply.
const (
	// CommandTopic is the topic commands are published to.
	CommandTopic = "commands"
	// ReplyTopic is the topic the Processor publishes replies to.
	ReplyTopic = "command_replies"

	// MetadataCommandName is the metadata key of the command name.
	MetadataCommandName = "name"
	// MetadataDeadline is the metadata key of the sender's deadline.
	MetadataDeadline = "deadline"
)

// NewCommandMessage validates cmd and returns a Watermill message carrying
// it: a new UUID, the command's JSON payload and its name in metadata. It
// fails with the errors Handle would give for invalid input, because
// json.Marshal would silently replace invalid UTF-8 that Validate rejects.
// Publish the message to CommandTopic. Without an operation id the
// Processor handles it and sends no reply.
func NewCommandMessage(cmd Command) (*message.Message, error) {
	cmd, err := dereference(cmd)
	if err != nil {
		return nil, err
	}
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encoding %s as JSON: %w", cmd.CommandName(), err)
	}
	return newCommandMessage(cmd.CommandName(), payload), nil
}

func newCommandMessage(name string, payload []byte) *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.Metadata.Set(MetadataCommandName, name)
	return msg
}

// requestReply marks msg as a request whose reply carries operationID and
// whose sender waits until deadline, when deadline is not zero.
func requestReply(msg *message.Message, operationID string, deadline time.Time) {
	msg.Metadata.Set(MetadataOperationID, operationID)
	if !deadline.IsZero() {
		msg.Metadata.Set(MetadataDeadline, deadline.UTC().Format(time.RFC3339Nano))
	}
}

// messageDeadline returns the deadline in msg's metadata, or the zero time
// when it has none.
func messageDeadline(msg *message.Message, command string) (time.Time, error) {
	value := msg.Metadata.Get(MetadataDeadline)
	if value == "" {
		return time.Time{}, nil
	}
	deadline, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return time.Time{}, invalidf(command, "metadata."+MetadataDeadline, RulePattern,
			"must be an RFC 3339 time such as 2025-01-02T15:04:05.5Z, got %q", truncate(value, 64))
	}
	return deadline, nil
}

// withCommandID returns a copy of cmd, a value of one of this package's
// command types, with its command id set to id. Every command type embeds
// Header, which is what makes the field reachable by name.
func withCommandID(cmd Command, id string) Command {
	value := reflect.New(reflect.TypeOf(cmd)).Elem()
	value.Set(reflect.ValueOf(cmd))
	value.FieldByName("Header").FieldByName("CommandID").SetString(id)
	return value.Interface().(Command)
}

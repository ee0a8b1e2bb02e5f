package commands

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Metadata keys of Watermill's request-reply convention, with the values of
// its components/requestreply package (v1.4.7), so a client built on that
// package's PubSubBackend and BackendPubsubJSONMarshaler can read a reply's
// result and error message. The package itself is not imported: through
// components/cqrs it needs protobuf modules this module does not use.
const (
	// MetadataOperationID is the key of the id that pairs a command message
	// with its reply.
	MetadataOperationID = "_watermill_requestreply_op_id"
	// MetadataHasError is the key of "1" when the reply reports an error and
	// "0" when it carries a result.
	MetadataHasError = "_watermill_requestreply_has_error"
	// MetadataError is the key of the reported error's message.
	MetadataError = "_watermill_requestreply_error"
)

// newReply returns the reply to the command message with operationID:
// result as JSON on success, or an errorBody describing handleErr, which
// keeps the error's kind and validation problems. commandID names the
// command in the errorBody when result does not.
func newReply(operationID string, result Result, handleErr error, commandID string) (*message.Message, error) {
	reply := message.NewMessage(watermill.NewUUID(), nil)
	reply.Metadata.Set(MetadataOperationID, operationID)
	var payload any = result
	if handleErr == nil {
		reply.Metadata.Set(MetadataHasError, "0")
	} else {
		body := newErrorBody(handleErr, commandID)
		reply.Metadata.Set(MetadataHasError, "1")
		reply.Metadata.Set(MetadataError, body.Message)
		payload = body
	}

	var err error
	if reply.Payload, err = json.Marshal(payload); err != nil {
		return nil, fmt.Errorf("encoding the reply as JSON: %w", err)
	}
	return reply, nil
}

// readReply returns the result that reply carries, or the *ReplyError it
// reports.
func readReply(reply *message.Message) (Result, error) {
	switch flag := reply.Metadata.Get(MetadataHasError); flag {
	case "0":
		var result Result
		if err := json.Unmarshal(reply.Payload, &result); err != nil {
			return Result{}, fmt.Errorf("decoding the result in reply %s: %w", reply.UUID, err)
		}
		return result, nil
	case "1":
		var body errorBody
		if err := json.Unmarshal(reply.Payload, &body); err != nil {
			return Result{}, fmt.Errorf("decoding the error in reply %s: %w", reply.UUID, err)
		}
		if body.Message == "" {
			body.Message = reply.Metadata.Get(MetadataError)
		}
		return Result{}, body.replyError()
	default:
		return Result{}, fmt.Errorf("reply %s has %s %q, expected \"0\" or \"1\"", reply.UUID, MetadataHasError, flag)
	}
}

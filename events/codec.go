package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Upcaster turns the payload of one schema version into the payload of the
// next version of the same event type.
type Upcaster func(payload json.RawMessage) (json.RawMessage, error)

// Codec encodes events to JSON payloads with their schema version, and
// decodes stored payloads back, upcasting older versions to the current one
// first. The zero value is unusable; use NewCodec or DefaultCodec.
type Codec struct {
	types     map[string]codecType
	upcasters map[string]map[int]Upcaster
}

type codecType struct {
	version int
	goType  reflect.Type
}

// NewCodec returns a codec with the whole catalog registered at schema
// version 1.
func NewCodec() *Codec {
	c := &Codec{types: map[string]codecType{}, upcasters: map[string]map[int]Upcaster{}}
	for _, e := range []Event{
		TaskAdded{}, TaskUpdated{}, TaskCompleted{}, TaskReopened{}, TaskDeleted{},
		ConversationStarted{}, MessageAppended{},
	} {
		c.Register(e, 1)
	}
	return c
}

// DefaultCodec is the codec Append and Record.Decode use.
var DefaultCodec = NewCodec()

// Register declares that events of e's type are written at schema version.
// Registering an existing type replaces it.
func (c *Codec) Register(e Event, version int) {
	c.types[e.EventType()] = codecType{version: version, goType: reflect.TypeOf(e)}
}

// RegisterUpcaster installs the step from version from to from+1 of
// eventType. Decode chains steps until it reaches the registered version.
func (c *Codec) RegisterUpcaster(eventType string, from int, up Upcaster) {
	if c.upcasters[eventType] == nil {
		c.upcasters[eventType] = map[int]Upcaster{}
	}
	c.upcasters[eventType][from] = up
}

// Encode returns e's type name, schema version and JSON payload.
func (c *Codec) Encode(e Event) (string, int, json.RawMessage, error) {
	t, ok := c.types[e.EventType()]
	if !ok {
		return "", 0, nil, fmt.Errorf("%w %q", ErrUnknownEventType, e.EventType())
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("encoding %s: %w", e.EventType(), err)
	}
	return e.EventType(), t.version, payload, nil
}

// Decode returns the event stored as payload at schema version, upcast to
// the current version. Unknown fields are rejected, so a payload that does
// not fit its declared version is caught rather than half read.
func (c *Codec) Decode(eventType string, version int, payload json.RawMessage) (Event, error) {
	t, ok := c.types[eventType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownEventType, eventType)
	}
	if version > t.version {
		return nil, fmt.Errorf("%s schema version %d is newer than this binary's %d: upgrade todolog",
			eventType, version, t.version)
	}
	for v := version; v < t.version; v++ {
		up := c.upcasters[eventType][v]
		if up == nil {
			return nil, fmt.Errorf("no upcaster for %s from schema version %d to %d", eventType, v, v+1)
		}
		next, err := up(payload)
		if err != nil {
			return nil, fmt.Errorf("upcasting %s from schema version %d: %w", eventType, v, err)
		}
		payload = next
	}

	target := reflect.New(t.goType)
	decoder := json.NewDecoder(bytes.NewReader(payload))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target.Interface()); err != nil {
		return nil, fmt.Errorf("decoding %s schema version %d: %w", eventType, t.version, err)
	}
	return target.Elem().Interface().(Event), nil
}

package replay

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/todolog/todolog/events"
)

// Line is one event of an export, every column of the log included, so the
// hash chain can be recomputed from the export alone.
type Line struct {
	Position      int64           `json:"position"`
	TransactionID uint64          `json:"transaction_id"`
	EventID       uuid.UUID       `json:"event_id"`
	UserID        string          `json:"user_id"`
	StreamType    string          `json:"stream_type"`
	StreamID      int64           `json:"stream_id"`
	StreamVersion int             `json:"stream_version"`
	UserSequence  int64           `json:"user_sequence"`
	EventType     string          `json:"event_type"`
	SchemaVersion int             `json:"schema_version"`
	Payload       json.RawMessage `json:"payload"`
	Metadata      json.RawMessage `json:"metadata"`
	CommandID     string          `json:"command_id"`
	CommandIndex  int             `json:"command_index"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	PreviousHash  string          `json:"previous_hash,omitempty"`
	Hash          string          `json:"hash"`
}

// ChainHead is the last link of a user's verified chain. An export ends
// with it, as {"chain_head": {...}}.
type ChainHead struct {
	UserID string `json:"user_id"`
	// Events counts the events verified, which is the last sequence number.
	Events int64 `json:"events"`
	// Hash is the hex hash of the last event, empty for a user without
	// events.
	Hash string `json:"hash"`
	// Position is the last event's place in the global log.
	Position int64 `json:"position"`
}

type trailer struct {
	ChainHead *ChainHead `json:"chain_head"`
}

// LineOf returns the export line of r.
func LineOf(r events.Record) Line {
	line := Line{
		Position: r.Position, TransactionID: r.TransactionID, EventID: r.EventID, UserID: r.UserID,
		StreamType: r.Stream.Type, StreamID: r.Stream.ID, StreamVersion: r.StreamVersion,
		UserSequence: r.UserSequence, EventType: r.Type, SchemaVersion: r.SchemaVersion,
		Payload: r.Payload, Metadata: r.MetadataJSON, CommandID: r.CommandID, CommandIndex: r.CommandIndex,
		OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, Hash: hex.EncodeToString(r.Hash),
	}
	if r.PreviousHash != nil {
		line.PreviousHash = hex.EncodeToString(r.PreviousHash)
	}
	return line
}

// record turns an export line back into a record for the chain verifier.
func (l Line) record() (events.Record, error) {
	r := events.Record{
		Position: l.Position, TransactionID: l.TransactionID, EventID: l.EventID, UserID: l.UserID,
		Stream: events.Stream{Type: l.StreamType, ID: l.StreamID}, StreamVersion: l.StreamVersion,
		UserSequence: l.UserSequence, Type: l.EventType, SchemaVersion: l.SchemaVersion,
		Payload: l.Payload, MetadataJSON: l.Metadata, CommandID: l.CommandID, CommandIndex: l.CommandIndex,
		OccurredAt: l.OccurredAt, RecordedAt: l.RecordedAt,
	}
	var err error
	if r.Hash, err = hex.DecodeString(l.Hash); err != nil {
		return events.Record{}, fmt.Errorf("sequence %d: hash %q is not hex", l.UserSequence, l.Hash)
	}
	if l.PreviousHash != "" {
		if r.PreviousHash, err = hex.DecodeString(l.PreviousHash); err != nil {
			return events.Record{}, fmt.Errorf("sequence %d: previous hash %q is not hex", l.UserSequence, l.PreviousHash)
		}
	}
	return r, nil
}

// Export writes userID's whole history to w as JSON Lines, one event per
// line in sequence order, verifying the chain as it goes, and ends with the
// chain head. It stops at the first broken link with a
// *events.BrokenChainError, leaving the lines before it written.
func Export(ctx context.Context, db events.DBTX, userID string, w io.Writer) (ChainHead, error) {
	out := bufio.NewWriter(w)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	verifier := events.ChainVerifier{UserID: userID}
	head := ChainHead{UserID: userID}
	for r, err := range events.ReadUser(ctx, db, userID, 0) {
		if err != nil {
			return ChainHead{}, err
		}
		if err := verifier.Add(r); err != nil {
			_ = out.Flush()
			return ChainHead{}, err
		}
		if err := encoder.Encode(LineOf(r)); err != nil {
			return ChainHead{}, fmt.Errorf("writing the export: %w", err)
		}
		head.Position = r.Position
	}
	head.Events = verifier.Count()
	head.Hash = hex.EncodeToString(verifier.Head())
	if err := encoder.Encode(trailer{ChainHead: &head}); err != nil {
		return ChainHead{}, fmt.Errorf("writing the export: %w", err)
	}
	return head, out.Flush()
}

// VerifyExport recomputes the chain of an export without a database and
// checks that it ends at the head the export names. It returns that head.
func VerifyExport(r io.Reader) (ChainHead, error) {
	scanner := bufio.NewScanner(r)
	// A line holds one event, whose message content can reach 100,000
	// characters of up to 4 bytes, plus escapes.
	scanner.Buffer(make([]byte, 64*1024), 4<<20)
	var verifier *events.ChainVerifier
	var claimed *ChainHead
	lineNumber := 0
	for scanner.Scan() {
		lineNumber++
		if claimed != nil {
			return ChainHead{}, fmt.Errorf("line %d: data after the chain head", lineNumber)
		}
		var probe trailer
		if err := json.Unmarshal(scanner.Bytes(), &probe); err == nil && probe.ChainHead != nil {
			claimed = probe.ChainHead
			continue
		}
		var line Line
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			return ChainHead{}, fmt.Errorf("line %d: %w", lineNumber, err)
		}
		record, err := line.record()
		if err != nil {
			return ChainHead{}, fmt.Errorf("line %d: %w", lineNumber, err)
		}
		if verifier == nil {
			verifier = &events.ChainVerifier{UserID: record.UserID}
		}
		if err := verifier.Add(record); err != nil {
			return ChainHead{}, fmt.Errorf("line %d: %w", lineNumber, err)
		}
	}
	if err := scanner.Err(); err != nil {
		return ChainHead{}, fmt.Errorf("reading the export: %w", err)
	}
	if claimed == nil {
		return ChainHead{}, fmt.Errorf("the export has no chain head line, so it may have been cut short")
	}
	computed := ChainHead{UserID: claimed.UserID}
	if verifier != nil {
		computed.Events = verifier.Count()
		computed.Hash = hex.EncodeToString(verifier.Head())
	}
	if computed.Events != claimed.Events || computed.Hash != claimed.Hash {
		return ChainHead{}, fmt.Errorf("the export's events end at sequence %d with hash %s, but its chain head records %d and %s",
			computed.Events, computed.Hash, claimed.Events, claimed.Hash)
	}
	return *claimed, nil
}

package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// timeLayout is the timestamp format of the hash input, matching the
// to_char pattern in events_hash_input.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// HashInput returns the text whose SHA-256 is r.Hash: the canonical jsonb
// text of an array of r's content and its previous hash. It is computed
// here independently of the database function events_hash_input.
func HashInput(r Record) (string, error) {
	payload, err := CanonicalJSON(r.Payload)
	if err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	metadataJSON := r.MetadataJSON
	if metadataJSON == nil {
		if metadataJSON, err = json.Marshal(r.Metadata); err != nil {
			return "", err
		}
	}
	metadata, err := CanonicalJSON(metadataJSON)
	if err != nil {
		return "", fmt.Errorf("metadata: %w", err)
	}

	var b strings.Builder
	item := func(s string) { b.WriteString(", "); b.WriteString(s) }
	str := func(s string) string {
		var q strings.Builder
		writeCanonicalString(&q, s)
		return q.String()
	}
	b.WriteByte('[')
	b.WriteString(str(r.UserID))
	item(strconv.FormatInt(r.UserSequence, 10))
	item(str(r.EventID.String()))
	item(str(r.Stream.Type))
	item(strconv.FormatInt(r.Stream.ID, 10))
	item(strconv.Itoa(r.StreamVersion))
	item(str(r.Type))
	item(strconv.Itoa(r.SchemaVersion))
	item(string(payload))
	item(string(metadata))
	item(str(r.CommandID))
	item(strconv.Itoa(r.CommandIndex))
	item(str(r.OccurredAt.UTC().Format(timeLayout)))
	item(str(r.RecordedAt.UTC().Format(timeLayout)))
	if r.PreviousHash == nil {
		item("null")
	} else {
		item(str(hex.EncodeToString(r.PreviousHash)))
	}
	b.WriteByte(']')
	return b.String(), nil
}

// ComputeHash returns the SHA-256 of r's hash input.
func ComputeHash(r Record) ([]byte, error) {
	input, err := HashInput(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(input))
	return sum[:], nil
}

// BrokenChainError reports the first event at which a user's chain does not
// verify.
type BrokenChainError struct {
	UserID       string
	UserSequence int64
	Position     int64
	Reason       string
}

func (e *BrokenChainError) Error() string {
	return fmt.Sprintf("hash chain of user %s broken at sequence %d (position %d): %s",
		e.UserID, e.UserSequence, e.Position, e.Reason)
}

// ChainVerifier checks one user's events, fed in sequence order, against
// the hash chain: sequences without gaps, each previous hash equal to the
// prior event's hash, and each hash equal to the recomputed one.
type ChainVerifier struct {
	UserID string
	count  int64
	head   []byte
}

// Add checks the next event. After the first error the verifier must not
// be used further.
func (v *ChainVerifier) Add(r Record) error {
	broken := func(format string, args ...any) error {
		return &BrokenChainError{UserID: v.UserID, UserSequence: r.UserSequence, Position: r.Position,
			Reason: fmt.Sprintf(format, args...)}
	}
	if r.UserID != v.UserID {
		return broken("event belongs to user %s", r.UserID)
	}
	if r.UserSequence != v.count+1 {
		return broken("expected sequence %d, so events are missing or out of order", v.count+1)
	}
	if !bytes.Equal(r.PreviousHash, v.head) {
		return broken("previous hash %x does not match the prior event's hash %x", r.PreviousHash, v.head)
	}
	hash, err := ComputeHash(r)
	if err != nil {
		return broken("cannot compute hash: %v", err)
	}
	if !bytes.Equal(hash, r.Hash) {
		return broken("stored hash %x differs from the recomputed %x, so the event was altered", r.Hash, hash)
	}
	v.count++
	v.head = r.Hash
	return nil
}

// Count returns how many events verified.
func (v *ChainVerifier) Count() int64 { return v.count }

// Head returns the hash of the last verified event, nil before the first.
func (v *ChainVerifier) Head() []byte { return v.head }

package trace

import (
	"fmt"
	"regexp"
	"strconv"
)

// MaxRunIDLength bounds a run id, so that every idempotency key built from
// it stays within the 128 characters todolog allows for a command id.
const MaxRunIDLength = 80

var runIDPattern = regexp.MustCompile(`^[\x21-\x7e]+$`)

// CheckRunID returns an error when id cannot prefix idempotency keys: it
// must be 1 to MaxRunIDLength printable ASCII characters without spaces.
func CheckRunID(id string) error {
	if len(id) > MaxRunIDLength || !runIDPattern.MatchString(id) {
		return fmt.Errorf("run id %q must be 1 to %d printable ASCII characters without spaces", truncate(id, 100), MaxRunIDLength)
	}
	return nil
}

// DefaultRunID returns the run id of a trace file with the given SHA-256
// digest: "trace-" and the digest's first 16 hex digits. A rerun of the
// same file gets the same keys without a flag.
func DefaultRunID(digest string) string {
	return "trace-" + digest[:min(16, len(digest))]
}

// MessageCommandID returns the idempotency key of the AppendMessage for the
// line with seq: "<run>:<seq>:m".
func MessageCommandID(runID string, seq int64) string {
	return runID + ":" + strconv.FormatInt(seq, 10) + ":m"
}

// ToolCallCommandID returns the idempotency key of the index-th tool call
// (from 0) of the line with seq: "<run>:<seq>:<index>".
func ToolCallCommandID(runID string, seq int64, index int) string {
	return runID + ":" + strconv.FormatInt(seq, 10) + ":" + strconv.Itoa(index)
}

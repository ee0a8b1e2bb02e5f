package trace

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// MaxLineBytes bounds one line of a trace. A message of todolog's maximum
// 100,000 characters takes at most 400,000 bytes of UTF-8, and JSON escapes
// can double that.
const MaxLineBytes = 1 << 20

// Trace is a parsed trace whose lines passed every rule of the format.
type Trace struct {
	Lines []Line
	// Digest is the hex SHA-256 of the file's bytes, empty for a generated
	// trace. It names the file in the default run id.
	Digest string
}

// ReadFile reads and checks the trace in the file at path.
func ReadFile(path string) (*Trace, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the trace: %w", err)
	}
	defer file.Close()
	t, err := Read(file)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	return t, nil
}

// Read parses a trace and checks each line and the rules that span lines.
// Down the file seq increases and at never decreases. Conversation and
// task keys belong to their line's user. add_task names a new key, and
// every other call names a live task of the same user. The first problem
// is returned as a *LineError.
func Read(r io.Reader) (*Trace, error) {
	hash := sha256.New()
	scanner := bufio.NewScanner(io.TeeReader(r, hash))
	scanner.Buffer(make([]byte, 0, 64*1024), MaxLineBytes)
	t := &Trace{}
	check := newChecker()
	number := 0
	for scanner.Scan() {
		number++
		line, err := decodeLine(number, scanner.Bytes())
		if err != nil {
			return nil, err
		}
		if err := check.line(line); err != nil {
			return nil, err
		}
		t.Lines = append(t.Lines, line)
	}
	if err := scanner.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineErrorf(number+1, RuleLineLength, "the line is longer than %d bytes", MaxLineBytes)
		}
		return nil, fmt.Errorf("reading line %d: %w", number+1, err)
	}
	if len(t.Lines) == 0 {
		return nil, errors.New("the trace has no lines")
	}
	t.Digest = hex.EncodeToString(hash.Sum(nil))
	return t, nil
}

// checker enforces the rules that span lines.
type checker struct {
	lastSeq int64
	lastAt  time.Time
	// tasks maps each task key seen to its state.
	tasks map[string]*taskKey
}

type taskKey struct {
	addedOn   int // line number of the add_task
	deletedOn int // line number of the delete_task, 0 while live
}

func newChecker() *checker { return &checker{tasks: map[string]*taskKey{}} }

func (c *checker) line(l Line) error {
	if c.lastSeq != 0 && l.Seq <= c.lastSeq {
		return lineErrorf(l.Number, RuleOrder, "seq %d does not increase: the line before has %d", l.Seq, c.lastSeq)
	}
	if l.At.Before(c.lastAt) {
		return lineErrorf(l.Number, RuleOrder, "at %s is earlier than the line before (%s)",
			l.At.Format(time.RFC3339), c.lastAt.Format(time.RFC3339))
	}
	c.lastSeq, c.lastAt = l.Seq, l.At

	for i, call := range l.ToolCalls {
		key := call.Arguments.Task
		state := c.tasks[key]
		if call.Name == ToolAddTask {
			if state != nil {
				return lineErrorf(l.Number, RuleNewKey, "tool_calls[%d] add_task names task %s, which line %d added already",
					i, key, state.addedOn)
			}
			c.tasks[key] = &taskKey{addedOn: l.Number}
			continue
		}
		switch {
		case state == nil:
			return lineErrorf(l.Number, RuleLiveKey, "tool_calls[%d] %s names task %s, which no earlier line added",
				i, call.Name, key)
		case state.deletedOn != 0:
			return lineErrorf(l.Number, RuleLiveKey, "tool_calls[%d] %s names task %s, which line %d deleted",
				i, call.Name, key, state.deletedOn)
		}
		if call.Name == ToolDeleteTask {
			state.deletedOn = l.Number
		}
	}
	return nil
}

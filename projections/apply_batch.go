package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/todolog/todolog/events"
)

// batchWriter applies many events of one projection with a few set-based
// statements instead of one statement per event. It loads the rows the
// events touch, folds the events into them in memory, and writes the
// changed rows back.
//
// fold must give every event the outcome the projection's per-event apply
// gives it on the same rows: applied, already applied, or failed. It
// declines an event the per-event apply would fail on, so the caller can
// hand that event to the per-event path, which is the authority on errors
// and parking. Constraints that only the database checks (such as the
// message roles) make write fail instead.
type batchWriter interface {
	// load reads the current rows of the streams of the records that the
	// projection owns.
	load(ctx context.Context, db events.DBTX, records []events.Record) error
	// fold applies one decoded event to the rows in memory. It returns
	// applied false when the rows already reflect the event, and ok false,
	// changing nothing, when the per-event path must apply the event.
	fold(r events.Record, e events.Event) (applied, ok bool)
	// write stores the folded rows. A row that changed since load makes it
	// fail with a poison error, so the caller falls back to the per-event
	// path for these events.
	write(ctx context.Context, db events.DBTX) error
}

// eventCounts counts events by what applying them did, as the Stats
// fields of the same names do.
type eventCounts struct {
	applied        int64
	alreadyApplied int64
	ignored        int64
}

func (c *eventCounts) add(other eventCounts) {
	c.applied += other.applied
	c.alreadyApplied += other.alreadyApplied
	c.ignored += other.ignored
}

// batchOutcome is the result of folding a run of records.
type batchOutcome struct {
	eventCounts
	// held lists the events of users who have a parked event in the
	// projection. The batch leaves them out, and the caller parks them as
	// held.
	held []heldEvent
	// folded is how many leading records were folded. When it is less than
	// the number of records, the record at that index needs the per-event
	// path.
	folded int
}

// heldEvent is an event that waits behind its user's earliest parked event,
// at position firstParked.
type heldEvent struct {
	record      events.Record
	firstParked int64
}

// parkedLookup is a function that returns the position of the user's earliest parked event in
// the projection, and false when the user has none.
type parkedLookup func(userID string) (int64, bool, error)

// foldBatch loads the rows records touch and folds records into them in
// log order, until the first record that needs the per-event path.
// parkedOf, when not nil, sets aside the events of users with a parked
// event, as the live handler does. A rebuild passes nil.
func foldBatch(ctx context.Context, db events.DBTX, p projection, records []events.Record, parkedOf parkedLookup) (batchWriter, batchOutcome, error) {
	w := p.newBatch()
	if err := w.load(ctx, db, records); err != nil {
		return nil, batchOutcome{}, fmt.Errorf("projection %s: reading the rows of %d events: %w", p.name, len(records), err)
	}
	var out batchOutcome
	for i, r := range records {
		if !p.owns(r) {
			out.ignored++
			continue
		}
		if parkedOf != nil {
			first, found, err := parkedOf(r.UserID)
			if err != nil {
				return nil, batchOutcome{}, err
			}
			if found {
				// The per-event path skips an event that is itself the
				// user's first parked one, and holds any other.
				if first != r.Position {
					out.held = append(out.held, heldEvent{record: r, firstParked: first})
				}
				continue
			}
		}
		e, err := r.Decode()
		if err != nil {
			out.folded = i
			return w, out, nil
		}
		applied, ok := w.fold(r, e)
		if !ok {
			out.folded = i
			return w, out, nil
		}
		if applied {
			out.applied++
		} else {
			out.alreadyApplied++
		}
	}
	out.folded = len(records)
	return w, out, nil
}

// ApplyBatch writes records, in the given order, to the read tables of the
// named projection through db, with a few set-based statements for the
// whole slice instead of one or more per event. The result equals calling
// Apply for each record in turn: records of streams the projection does not
// read are skipped, and records the tables already reflect change nothing.
// Unqualified table names are used, so db's search_path picks the tables.
//
// Give it a transaction: on an error, some of the records may have been
// written. An error for which an event itself is at fault (an unknown event
// type, a payload that breaks a constraint or contradicts the read tables)
// is a poison error, as Apply returns it. A set-based statement that fails
// on a constraint does not name the event, and leaves a transaction
// aborted, so roll back (to a savepoint) and apply the records one at a time
// to find it.
func ApplyBatch(ctx context.Context, db events.DBTX, projectionName string, records []events.Record) error {
	p, err := lookup(projectionName)
	if err != nil {
		return err
	}
	for len(records) > 0 {
		w, out, err := foldBatch(ctx, db, p, records, nil)
		if err != nil {
			return err
		}
		if out.folded > 0 {
			if err := w.write(ctx, db); err != nil {
				return fmt.Errorf("projection %s: applying %d events at positions %d to %d: %w",
					p.name, out.folded, records[0].Position, records[out.folded-1].Position, err)
			}
		}
		records = records[out.folded:]
		if len(records) == 0 {
			return nil
		}
		// The batch declined this record. Apply returns its error, or
		// applies it should the batch have been stricter than needed.
		if err := Apply(ctx, db, projectionName, records[0]); err != nil {
			return err
		}
		records = records[1:]
	}
	return nil
}

// rowsChangedError reports a set-based write that changed fewer rows than
// the batch loaded. Another writer changed the read table after load, so
// the batch's result is stale. It is a poison error, so that the caller
// applies these events one at a time, which rechecks every row.
func rowsChangedError(table, statement string, changed int64, want int) error {
	return poisonf("%s in the %s table changed %d rows, want %d: the rows changed after the batch read them",
		statement, table, changed, want)
}

// checkRowsAffected returns a rowsChangedError unless the statement's result
// counts want rows.
func checkRowsAffected(table, statement string, changed int64, want int) error {
	if changed != int64(want) {
		return rowsChangedError(table, statement, changed, want)
	}
	return nil
}

// timestampText formats t for a timestamptz[] parameter. RFC 3339 with
// nanoseconds keeps the microseconds PostgreSQL stores, so a value read from
// the database goes back unchanged.
func timestampText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/todolog/todolog/events"
)

// taskRow is one row of the tasks table.
type taskRow struct {
	userID       string
	title        string
	description  string
	completed    bool
	createdAt    time.Time
	updatedAt    time.Time
	version      int
	lastPosition int64
}

// taskBatch is the batchWriter of the tasks projection.
type taskBatch struct {
	// stored holds the rows as load read them, by task id. A nil value
	// means no row.
	stored map[int64]*taskRow
	// rows holds the rows after the folded events. fold replaces a row
	// rather than changing it, so stored stays as read.
	rows map[int64]*taskRow
	// changed lists the ids of the rows fold replaced, in the order of
	// their first change.
	changed []int64
	isDirty map[int64]bool
}

func newTaskBatch() *taskBatch {
	return &taskBatch{stored: map[int64]*taskRow{}, rows: map[int64]*taskRow{}, isDirty: map[int64]bool{}}
}

func (b *taskBatch) load(ctx context.Context, db events.DBTX, records []events.Record) error {
	var ids []int64
	for _, r := range records {
		if r.Stream.Type != events.StreamTask {
			continue
		}
		if _, seen := b.stored[r.Stream.ID]; !seen {
			b.stored[r.Stream.ID] = nil
			ids = append(ids, r.Stream.ID)
		}
	}
	if len(ids) > 0 {
		rows, err := db.QueryContext(ctx, `SELECT id, user_id, title, description, completed, created_at, updated_at,
			stream_version, last_position
			FROM tasks WHERE id = ANY($1::bigint[])`, pq.Array(ids))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var row taskRow
			if err := rows.Scan(&id, &row.userID, &row.title, &row.description, &row.completed, &row.createdAt,
				&row.updatedAt, &row.version, &row.lastPosition); err != nil {
				return err
			}
			b.stored[id] = &row
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for id, row := range b.stored {
		b.rows[id] = row
	}
	return nil
}

// fold follows applyTaskEvent and the statements it runs, given the row of
// the event's task.
func (b *taskBatch) fold(r events.Record, e events.Event) (bool, bool) {
	taskID, err := taskIDOf(r, e)
	if err != nil {
		return false, false
	}
	row, loaded := b.rows[taskID]
	if !loaded {
		return false, false
	}

	switch e := e.(type) {
	case events.TaskAdded:
		if row == nil {
			b.set(taskID, &taskRow{userID: r.UserID, title: e.Title, description: e.Description,
				createdAt: r.OccurredAt, updatedAt: r.OccurredAt, version: r.StreamVersion, lastPosition: r.Position})
			return true, true
		}
		return false, appliedBefore(row.userID, row.version, r)
	case events.TaskDeleted:
		// deleteTask changes nothing, without an error, unless the row is
		// the user's and older than the event.
		if row != nil && row.userID == r.UserID && row.version < r.StreamVersion {
			b.set(taskID, nil)
			return true, true
		}
		return false, true
	}

	// TaskUpdated, TaskCompleted and TaskReopened change the user's row
	// when it is older than the event, as updateTask does.
	if row == nil || row.userID != r.UserID {
		return false, false
	}
	if row.version >= r.StreamVersion {
		return false, true
	}
	next := *row
	switch e := e.(type) {
	case events.TaskUpdated:
		if e.Title != nil {
			next.title = *e.Title
		}
		if e.Description != nil {
			next.description = *e.Description
		}
	case events.TaskCompleted:
		next.completed = true
	case events.TaskReopened:
		next.completed = false
	}
	next.updatedAt, next.version, next.lastPosition = r.OccurredAt, r.StreamVersion, r.Position
	b.set(taskID, &next)
	return true, true
}

// appliedBefore reports whether an event that starts a stream, whose
// insert found a row already there, was applied before: the row must be
// the event's user's and at the event's version or later, as
// checkAlreadyApplied requires.
func appliedBefore(owner string, version int, r events.Record) bool {
	return owner == r.UserID && version >= r.StreamVersion
}

func (b *taskBatch) set(id int64, row *taskRow) {
	if !b.isDirty[id] {
		b.isDirty[id] = true
		b.changed = append(b.changed, id)
	}
	b.rows[id] = row
}

// write deletes the rows that are gone or changed owner, updates the rows
// that changed, and inserts the new ones. Deletes and updates match the
// row as load read it, id, owner and stream version, and fail with a
// rowsChangedError when a row no longer matches. Inserts fail on the
// primary key when a row appeared since.
//
// The deletes and updates repeat their join key as id = ANY($1), because
// PostgreSQL 15 joins a table to unnest(...) alone with a hash join over a
// sequential scan, so every batch would take time in proportion to the
// table's size. The ANY condition lets the primary key find the rows.
func (b *taskBatch) write(ctx context.Context, db events.DBTX) error {
	var deletes, updates, inserts []int64
	for _, id := range b.changed {
		stored, row := b.stored[id], b.rows[id]
		switch {
		case stored == nil && row == nil:
		case row == nil:
			deletes = append(deletes, id)
		case stored == nil:
			inserts = append(inserts, id)
		case stored.userID != row.userID:
			deletes = append(deletes, id)
			inserts = append(inserts, id)
		default:
			updates = append(updates, id)
		}
	}
	if err := b.deleteRows(ctx, db, deletes); err != nil {
		return err
	}
	if err := b.updateRows(ctx, db, updates); err != nil {
		return err
	}
	return b.insertRows(ctx, db, inserts)
}

func (b *taskBatch) deleteRows(ctx context.Context, db events.DBTX, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	users := make([]string, len(ids))
	versions := make([]int64, len(ids))
	for i, id := range ids {
		users[i], versions[i] = b.stored[id].userID, int64(b.stored[id].version)
	}
	result, err := db.ExecContext(ctx, `DELETE FROM tasks t
		USING unnest($1::bigint[], $2::text[], $3::integer[]) AS d (id, user_id, stream_version)
		WHERE t.id = ANY($1::bigint[]) AND t.id = d.id AND t.user_id = d.user_id AND t.stream_version = d.stream_version`,
		pq.Array(ids), pq.Array(users), pq.Array(versions))
	if err != nil {
		return fmt.Errorf("deleting %d tasks: %w", len(ids), err)
	}
	deleted, err := result.RowsAffected()
	if err != nil {
		return err
	}
	return checkRowsAffected("tasks", "DELETE", deleted, len(ids))
}

func (b *taskBatch) updateRows(ctx context.Context, db events.DBTX, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	c := newTaskArrays(len(ids))
	storedVersions := make([]int64, len(ids))
	for i, id := range ids {
		c.add(id, b.rows[id])
		storedVersions[i] = int64(b.stored[id].version)
	}
	result, err := db.ExecContext(ctx, `UPDATE tasks t
		SET title = d.title, description = d.description, completed = d.completed, created_at = d.created_at,
		    updated_at = d.updated_at, stream_version = d.stream_version, last_position = d.last_position
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::timestamptz[],
		            $7::timestamptz[], $8::integer[], $9::bigint[], $10::integer[])
		     AS d (id, user_id, title, description, completed, created_at, updated_at, stream_version,
		           last_position, stored_version)
		WHERE t.id = ANY($1::bigint[]) AND t.id = d.id AND t.user_id = d.user_id AND t.stream_version = d.stored_version`,
		append(c.args(), pq.Array(storedVersions))...)
	if err != nil {
		return fmt.Errorf("updating %d tasks: %w", len(ids), err)
	}
	updated, err := result.RowsAffected()
	if err != nil {
		return err
	}
	return checkRowsAffected("tasks", "UPDATE", updated, len(ids))
}

func (b *taskBatch) insertRows(ctx context.Context, db events.DBTX, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	c := newTaskArrays(len(ids))
	for _, id := range ids {
		c.add(id, b.rows[id])
	}
	_, err := db.ExecContext(ctx, `INSERT INTO tasks
		(id, user_id, title, description, completed, created_at, updated_at, stream_version, last_position)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::timestamptz[],
		                     $7::timestamptz[], $8::integer[], $9::bigint[])`,
		c.args()...)
	if err != nil {
		return fmt.Errorf("inserting %d tasks: %w", len(ids), err)
	}
	return nil
}

// taskArrays holds task rows column by column, as array parameters for
// unnest.
type taskArrays struct {
	ids           []int64
	users         []string
	titles        []string
	descriptions  []string
	completed     []bool
	createdAt     []string
	updatedAt     []string
	versions      []int64
	lastPositions []int64
}

func newTaskArrays(n int) *taskArrays {
	return &taskArrays{
		ids: make([]int64, 0, n), users: make([]string, 0, n), titles: make([]string, 0, n),
		descriptions: make([]string, 0, n), completed: make([]bool, 0, n), createdAt: make([]string, 0, n),
		updatedAt: make([]string, 0, n), versions: make([]int64, 0, n), lastPositions: make([]int64, 0, n),
	}
}

func (c *taskArrays) add(id int64, row *taskRow) {
	c.ids = append(c.ids, id)
	c.users = append(c.users, row.userID)
	c.titles = append(c.titles, row.title)
	c.descriptions = append(c.descriptions, row.description)
	c.completed = append(c.completed, row.completed)
	c.createdAt = append(c.createdAt, timestampText(row.createdAt))
	c.updatedAt = append(c.updatedAt, timestampText(row.updatedAt))
	c.versions = append(c.versions, int64(row.version))
	c.lastPositions = append(c.lastPositions, row.lastPosition)
}

// args returns the columns in the order of the tasks table.
func (c *taskArrays) args() []any {
	return []any{pq.Array(c.ids), pq.Array(c.users), pq.Array(c.titles), pq.Array(c.descriptions),
		pq.Array(c.completed), pq.Array(c.createdAt), pq.Array(c.updatedAt), pq.Array(c.versions),
		pq.Array(c.lastPositions)}
}

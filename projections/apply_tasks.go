package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/todolog/todolog/events"
)

// applyTaskEvent applies one event of a task stream to the tasks table.
func applyTaskEvent(ctx context.Context, db events.DBTX, r events.Record, e events.Event) (bool, error) {
	if _, err := taskIDOf(r, e); err != nil {
		return false, err
	}

	switch e := e.(type) {
	case events.TaskAdded:
		return insertTask(ctx, db, r, e)
	case events.TaskUpdated:
		return updateTask(ctx, db, r, e.Title, e.Description, nil)
	case events.TaskCompleted:
		completed := true
		return updateTask(ctx, db, r, nil, nil, &completed)
	case events.TaskReopened:
		completed := false
		return updateTask(ctx, db, r, nil, nil, &completed)
	default:
		return deleteTask(ctx, db, r)
	}
}

// taskIDOf returns the task id of a task event, or a poison error when e
// is not a task event or its payload names another task than r's stream.
func taskIDOf(r events.Record, e events.Event) (int64, error) {
	var taskID int64
	switch e := e.(type) {
	case events.TaskAdded:
		taskID = e.TaskID
	case events.TaskUpdated:
		taskID = e.TaskID
	case events.TaskCompleted:
		taskID = e.TaskID
	case events.TaskReopened:
		taskID = e.TaskID
	case events.TaskDeleted:
		taskID = e.TaskID
	default:
		return 0, poisonf("%s does not belong on task stream %s", r.Type, r.Stream)
	}
	if taskID != r.Stream.ID {
		return 0, poisonf("payload task_id %d does not match stream %s", taskID, r.Stream)
	}
	return taskID, nil
}

func insertTask(ctx context.Context, db events.DBTX, r events.Record, e events.TaskAdded) (bool, error) {
	result, err := db.ExecContext(ctx, `INSERT INTO tasks
		(id, user_id, title, description, completed, created_at, updated_at, stream_version, last_position)
		VALUES ($1, $2, $3, $4, false, $5, $5, $6, $7)
		ON CONFLICT (id) DO NOTHING`,
		e.TaskID, r.UserID, e.Title, e.Description, r.OccurredAt, r.StreamVersion, r.Position)
	if err != nil {
		return false, err
	}
	if inserted, err := result.RowsAffected(); err != nil || inserted == 1 {
		return inserted == 1, err
	}
	return false, checkAlreadyApplied(ctx, db, "tasks", "task", r)
}

// updateTask sets the fields that are not nil.
func updateTask(ctx context.Context, db events.DBTX, r events.Record, title, description *string, completed *bool) (bool, error) {
	result, err := db.ExecContext(ctx, `UPDATE tasks
		SET title = coalesce($3, title), description = coalesce($4, description),
		    completed = coalesce($5, completed), updated_at = $6, stream_version = $7, last_position = $8
		WHERE id = $1 AND user_id = $2 AND stream_version < $7`,
		r.Stream.ID, r.UserID, title, description, completed, r.OccurredAt, r.StreamVersion, r.Position)
	if err != nil {
		return false, err
	}
	if updated, err := result.RowsAffected(); err != nil || updated == 1 {
		return updated == 1, err
	}
	return false, checkAlreadyApplied(ctx, db, "tasks", "task", r)
}

// deleteTask removes the task's row. A missing row means the deletion was
// applied before, so it is not an error.
func deleteTask(ctx context.Context, db events.DBTX, r events.Record) (bool, error) {
	result, err := db.ExecContext(ctx, `DELETE FROM tasks WHERE id = $1 AND user_id = $2 AND stream_version < $3`,
		r.Stream.ID, r.UserID, r.StreamVersion)
	if err != nil {
		return false, err
	}
	deleted, err := result.RowsAffected()
	return deleted == 1, err
}

// checkAlreadyApplied explains why a write to the row of r's stream changed
// nothing. It returns nil when the row exists for r's user at r's stream
// version or later, so r was applied before. Otherwise r cannot be
// applied, because the row is missing or belongs to another user.
func checkAlreadyApplied(ctx context.Context, db events.DBTX, table, noun string, r events.Record) error {
	var owner string
	var version int
	err := db.QueryRowContext(ctx, `SELECT user_id, stream_version FROM `+table+` WHERE id = $1`, r.Stream.ID).
		Scan(&owner, &version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return poisonf("%s %d of user %s is not in the %s table", noun, r.Stream.ID, r.UserID, table)
	case err != nil:
		return fmt.Errorf("reading %s %d: %w", noun, r.Stream.ID, err)
	case owner != r.UserID:
		return poisonf("%s id %d of user %s already belongs to another user in the %s table",
			noun, r.Stream.ID, r.UserID, table)
	case version < r.StreamVersion:
		return poisonf("%s %d of user %s is at stream version %d in the %s table, so version %d cannot start it",
			noun, r.Stream.ID, r.UserID, version, table, r.StreamVersion)
	default:
		return nil
	}
}

package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/todolog/todolog/events"
)

// TaskStatus selects which tasks ListTasks returns.
type TaskStatus string

// Task statuses. The empty TaskStatus means StatusAll.
const (
	StatusAll       TaskStatus = "all"
	StatusPending   TaskStatus = "pending"
	StatusCompleted TaskStatus = "completed"
)

// Task is one row of the tasks table.
type Task struct {
	ID          int64
	UserID      string
	Title       string
	Description string
	Completed   bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Version is the task stream's version after the last event applied,
	// usable as a command's expected version.
	Version int
}

const taskColumns = `id, user_id, title, description, completed, created_at, updated_at, stream_version`

func scanTask(row rowScanner) (Task, error) {
	var t Task
	err := row.Scan(&t.ID, &t.UserID, &t.Title, &t.Description, &t.Completed, &t.CreatedAt, &t.UpdatedAt, &t.Version)
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, err
}

// ListTasks returns the user's tasks with the given status, in id order,
// which is the order they were added.
func ListTasks(ctx context.Context, db events.DBTX, userID string, status TaskStatus) ([]Task, error) {
	return listTasks(ctx, db, userID, status)
}

func listTasks(ctx context.Context, db events.DBTX, userID string, status TaskStatus) ([]Task, error) {
	if err := events.CheckUserID(userID); err != nil {
		return nil, err
	}
	query := `SELECT ` + taskColumns + ` FROM tasks WHERE user_id = $1`
	switch status {
	case StatusAll, "":
	case StatusPending:
		query += ` AND NOT completed`
	case StatusCompleted:
		query += ` AND completed`
	default:
		return nil, fmt.Errorf("%w: task status %q must be %q, %q or %q",
			events.ErrInvalid, truncate(string(status), 32), StatusAll, StatusPending, StatusCompleted)
	}
	rows, err := events.QueryAsUser(ctx, db, userID, query+` ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing tasks of user %s: %w", userID, err)
	}
	defer rows.Close()
	tasks := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tasks of user %s: %w", userID, err)
		}
		tasks = append(tasks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tasks of user %s: %w", userID, err)
	}
	return tasks, nil
}

// GetTask returns one of the user's tasks, or ErrNotFound when the user has
// no task with that id.
func GetTask(ctx context.Context, db events.DBTX, userID string, taskID int64) (Task, error) {
	return getTask(ctx, db, userID, taskID)
}

func getTask(ctx context.Context, db events.DBTX, userID string, taskID int64) (Task, error) {
	if err := events.CheckUserID(userID); err != nil {
		return Task{}, err
	}
	t, err := scanTask(queryRowAsUser(ctx, db, userID, `SELECT `+taskColumns+` FROM tasks WHERE user_id = $1 AND id = $2`,
		userID, taskID))
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, fmt.Errorf("task %d of user %s: %w", taskID, userID, ErrNotFound)
	}
	if err != nil {
		return Task{}, fmt.Errorf("reading task %d of user %s: %w", taskID, userID, err)
	}
	return t, nil
}

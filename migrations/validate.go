package migrations

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ValidateStep is the outcome of one file during Validate.
type ValidateStep struct {
	File     File
	Duration time.Duration
	// Note explains a deviation, such as CONCURRENTLY removed to run the
	// statement inside the validation transaction.
	Note string
}

var concurrently = regexp.MustCompile(`(?i)\bCONCURRENTLY\b`)

// Validate applies every pending migration, then their down migrations in
// reverse order, then the up migrations again, all inside one transaction
// that is rolled back. It proves the pending files apply and revert on the
// real schema and data without changing either. The transaction takes the
// same locks as the migrations would, bounded by a 5 s lock timeout.
func (m *Migrator) Validate(ctx context.Context) ([]ValidateStep, error) {
	version, dirty, err := m.version()
	if err != nil {
		return nil, err
	}
	if dirty {
		return nil, m.dirtyError(ctx)
	}
	var ups, downs []File
	for _, f := range m.files {
		if int(f.Version) <= version {
			continue
		}
		if f.Direction == "up" {
			ups = append(ups, f)
		} else {
			downs = append([]File{f}, downs...)
		}
	}
	if len(ups) == 0 {
		return nil, nil
	}

	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("starting validation transaction: %w", err)
	}
	// Roll back even if ctx was cancelled, so no lock outlives the call.
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
		return nil, err
	}

	var steps []ValidateStep
	for _, f := range append(append(ups, downs...), ups...) {
		content, err := ReadFile(m.fsys, f)
		if err != nil {
			return steps, err
		}
		step := ValidateStep{File: f}
		if len(NonTransactionalStatements(content)) > 0 {
			content = concurrently.ReplaceAllString(content, "")
			step.Note = "ran without CONCURRENTLY, which cannot run inside the validation transaction"
		}
		start := time.Now()
		if _, err := tx.ExecContext(ctx, content); err != nil {
			return steps, fmt.Errorf("migration %s fails: %w", f.Path, err)
		}
		step.Duration = time.Since(start)
		steps = append(steps, step)
		m.logger.Info("validated migration file", "file", f.Path, "direction", f.Direction,
			"version", f.Version, "duration", step.Duration.Round(time.Microsecond))
	}
	if err := tx.Rollback(); err != nil && !errors.Is(err, context.Canceled) {
		return steps, fmt.Errorf("rolling back validation transaction: %w", err)
	}
	return steps, nil
}

package migrations

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Status describes where the schema stands and what an operator should do.
type Status struct {
	// Version is the current version, -1 when no migration is applied.
	Version int
	// Dirty is set while a step runs and stays set when it fails or is
	// interrupted.
	Dirty bool
	// Latest is the newest embedded version.
	Latest uint
	// Pending lists the embedded versions above Version.
	Pending []uint
	// LastStep is the most recent history row, nil when none exists.
	LastStep *Step
	// Advice says in plain words what the state means and what to run next.
	Advice string
}

// Status reads the current version and history and explains them.
func (m *Migrator) Status(ctx context.Context) (Status, error) {
	version, dirty, err := m.version()
	if err != nil {
		return Status{}, err
	}
	status := Status{Version: version, Dirty: dirty, Latest: m.versions[len(m.versions)-1]}
	for _, v := range m.versions {
		if int(v) > version {
			status.Pending = append(status.Pending, v)
		}
	}
	steps, err := m.History(ctx, 1)
	if err != nil {
		return Status{}, err
	}
	if len(steps) > 0 {
		status.LastStep = &steps[0]
	}
	status.Advice = m.advise(status)
	return status, nil
}

func (m *Migrator) advise(s Status) string {
	if s.Dirty {
		return m.adviseDirty(s)
	}
	switch {
	case s.Version == -1:
		return "No migration has been applied. Run `todolog migrate up`."
	case len(s.Pending) == 0:
		return fmt.Sprintf("The schema is at version %d, the latest. Nothing to do.", s.Version)
	default:
		return fmt.Sprintf("The schema is at version %d; %d migration(s) pending (%s). "+
			"Run `todolog migrate validate`, then `todolog migrate up`.",
			s.Version, len(s.Pending), joinVersions(s.Pending))
	}
}

func (m *Migrator) adviseDirty(s Status) string {
	step := s.LastStep
	// golang-migrate marks the step's target version dirty, for up and down.
	matches := step != nil && step.Direction != "force" && step.ToVersion == s.Version
	if !matches {
		return fmt.Sprintf("Version %d is marked dirty: a migration step failed or was interrupted, "+
			"and todolog's history does not record it (the stock migrate CLI may have run it). "+
			"If it was an up step to %d, the schema is still at the version before it; if it was a down "+
			"step, it is still at the version after it. Check the schema, then run `todolog migrate force VERSION` "+
			"with the version it is really at.", s.Version, s.Version)
	}

	what := "started at " + step.StartedAt.Format(time.RFC3339) + " and never finished (the process stopped)"
	if step.Error != "" {
		what = "failed at " + step.StartedAt.Format(time.RFC3339) + ": " + step.Error
	}
	// A failed file was rolled back, so the schema is where the step began.
	atVersion := step.FromVersion
	var b strings.Builder
	fmt.Fprintf(&b, "Version %d is marked dirty: the step %s from %d to %d %s. ",
		s.Version, step.Direction, step.FromVersion, step.ToVersion, what)
	fmt.Fprintf(&b, "Each migration file runs in one transaction, so its changes were rolled back and "+
		"the schema is still at version %d. ", atVersion)
	if step.Direction == "up" && m.nonTransactional(uint(step.ToVersion), "up") {
		fmt.Fprintf(&b, "Migration %d runs outside a transaction (CREATE INDEX CONCURRENTLY): drop any "+
			"INVALID index it left (see `\\d TABLE` in psql) first. ", step.ToVersion)
	}
	fmt.Fprintf(&b, "Fix the cause, then run `todolog migrate force %d` and retry.", atVersion)
	return b.String()
}

func joinVersions(versions []uint) string {
	parts := make([]string, len(versions))
	for i, v := range versions {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

// nonTransactional reports whether the migration file for version and
// direction holds a statement that cannot run in a transaction.
func (m *Migrator) nonTransactional(version uint, direction string) bool {
	for _, f := range m.files {
		if f.Version == version && f.Direction == direction {
			content, err := ReadFile(m.fsys, f)
			return err == nil && len(NonTransactionalStatements(content)) > 0
		}
	}
	return false
}

package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MinMajorVersion is the oldest PostgreSQL major version todolog supports.
const MinMajorVersion = 15

// ErrNoBinaries means no PostgreSQL server binaries were found on this machine.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found")

// FindBinDir returns the directory that holds initdb, pg_ctl and postgres.
// It looks, in order, at the TODOLOG_PG_BINDIR environment variable, initdb
// on PATH, `pg_config --bindir`, and the newest /usr/lib/postgresql/*/bin.
func FindBinDir(ctx context.Context) (string, error) {
	var candidates []string
	if dir := os.Getenv("TODOLOG_PG_BINDIR"); dir != "" {
		candidates = append(candidates, dir)
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		// Debian links /usr/local/bin/initdb into the versioned folder, which
		// also holds postgres; follow the link so every tool comes from it.
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved
		}
		candidates = append(candidates, filepath.Dir(path))
	}
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	candidates = append(candidates, debianBinDirs()...)

	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w (looked at $TODOLOG_PG_BINDIR, initdb on PATH, pg_config --bindir "+
		"and /usr/lib/postgresql/*/bin): install them with `sudo apt-get install postgresql` "+
		"or set DATABASE_URL to an existing server", ErrNoBinaries)
}

// debianBinDirs lists /usr/lib/postgresql/*/bin, newest major version first.
func debianBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		return majorOf(b) - majorOf(a)
	})
	return dirs
}

func majorOf(binDir string) int {
	major, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return major
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// ServerVersion returns the major version of the postgres binary in binDir.
func ServerVersion(ctx context.Context, binDir string) (int, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("running %s --version: %w", filepath.Join(binDir, "postgres"), err)
	}
	// The output looks like "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return 0, fmt.Errorf("unexpected postgres --version output %q", out)
	}
	major, err := strconv.Atoi(strings.SplitN(fields[2], ".", 2)[0])
	if err != nil {
		return 0, fmt.Errorf("unexpected postgres --version output %q", out)
	}
	return major, nil
}

package pgcluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/lib/pq"
)

// DefaultDatabase is the database todolog creates in its embedded cluster.
const DefaultDatabase = "todolog"

// HomeDir returns where todolog keeps its embedded cluster: $TODOLOG_HOME
// when set; for root /var/lib/todolog, because the postgres user cannot
// enter /root; otherwise $XDG_DATA_HOME/todolog or ~/.local/share/todolog.
func HomeDir() (string, error) {
	if dir := os.Getenv("TODOLOG_HOME"); dir != "" {
		return filepath.Abs(dir)
	}
	if os.Geteuid() == 0 {
		return "/var/lib/todolog", nil
	}
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" {
		return filepath.Join(dir, "todolog"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory for the embedded database: %w (set TODOLOG_HOME)", err)
	}
	return filepath.Join(home, ".local", "share", "todolog"), nil
}

// Default returns the embedded default cluster, without creating it. Its
// superuser password is generated once and kept in HomeDir, readable only
// by the user who created it.
func Default(ctx context.Context, logger *slog.Logger) (*Cluster, error) {
	home, err := HomeDir()
	if err != nil {
		return nil, err
	}
	// The server's user must be able to enter home to reach its data
	// directory, which is private to it.
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", home, err)
	}
	password, err := readOrCreatePassword(filepath.Join(home, "postgres.password"))
	if err != nil {
		return nil, err
	}
	return New(ctx, Config{
		DataDir:  filepath.Join(home, "postgres"),
		Password: password,
		Logger:   logger,
	})
}

func readOrCreatePassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the embedded database password: %w", err)
	}
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	password := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the embedded database password: %w", err)
	}
	return password, nil
}

// EnsureStarted creates the cluster if needed, starts it if stopped, creates
// DefaultDatabase if missing, and returns that database's URL.
func (c *Cluster) EnsureStarted(ctx context.Context) (string, error) {
	if err := c.Init(ctx); err != nil {
		return "", err
	}
	if err := c.Start(ctx); err != nil {
		return "", err
	}
	admin, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		DefaultDatabase).Scan(&exists); err != nil {
		return "", fmt.Errorf("connecting to the embedded database: %w", err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(DefaultDatabase)); err != nil {
			return "", fmt.Errorf("creating database %s: %w", DefaultDatabase, err)
		}
		c.cfg.Logger.Info("created database", "database", DefaultDatabase)
	}
	return c.URL(DefaultDatabase), nil
}

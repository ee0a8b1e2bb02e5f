// Package pgcluster creates, starts and stops a local PostgreSQL cluster from
// the server binaries installed on the machine. todolog uses it for its
// embedded default database and for the throwaway clusters of the tests.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config describes a local cluster.
type Config struct {
	// BinDir holds initdb, pg_ctl and postgres. Empty means FindBinDir.
	BinDir string
	// DataDir is the cluster's data directory (PGDATA).
	DataDir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free port at Init.
	Port int
	// Superuser is the name of the bootstrap superuser. Empty means "todolog".
	Superuser string
	// Password for the superuser. Empty means trust authentication on
	// loopback, which only throwaway test clusters should use.
	Password string
	// Settings are extra postgresql.conf lines written at Init, such as
	// "fsync = off" for test clusters.
	Settings []string
	// Logger receives lifecycle messages. Nil means slog.Default().
	Logger *slog.Logger
}

// Cluster is a local PostgreSQL cluster described by a Config.
type Cluster struct {
	cfg   Config
	runAs *credential
}

type credential struct {
	uid, gid uint32
	name     string
}

// New fills in defaults and returns the cluster. When the process runs as
// root, the server runs as the unprivileged system user "postgres", because
// PostgreSQL refuses to start as root.
func New(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("pgcluster: DataDir is required")
	}
	if cfg.Superuser == "" {
		cfg.Superuser = "todolog"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BinDir == "" {
		dir, err := FindBinDir(ctx)
		if err != nil {
			return nil, err
		}
		cfg.BinDir = dir
	}
	major, err := ServerVersion(ctx, cfg.BinDir)
	if err != nil {
		return nil, err
	}
	if major < MinMajorVersion {
		return nil, fmt.Errorf("PostgreSQL %d in %s is too old: todolog needs %d or newer",
			major, cfg.BinDir, MinMajorVersion)
	}

	c := &Cluster{cfg: cfg}
	if os.Geteuid() == 0 {
		cred, err := lookupCredential("postgres")
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL does not run as root, and the user postgres to run it as is missing: %w "+
				"(create it with `useradd --system --home /var/lib/postgresql postgres`)", err)
		}
		c.runAs = cred
	}
	return c, nil
}

func lookupCredential(name string) (*credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s has a non-numeric uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s has a non-numeric gid %q", name, u.Gid)
	}
	return &credential{uid: uint32(uid), gid: uint32(gid), name: name}, nil
}

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.cfg.DataDir }

// Port returns the TCP port, known after Init.
func (c *Cluster) Port() int { return c.cfg.Port }

// URL returns a connection URL for database dbname as the superuser.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.cfg.Port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	if c.cfg.Password != "" {
		u.User = url.UserPassword(c.cfg.Superuser, c.cfg.Password)
	} else {
		u.User = url.User(c.cfg.Superuser)
	}
	return u.String()
}

// Initialized reports whether the data directory already holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.cfg.DataDir, "PG_VERSION"))
	return err == nil
}

// Init creates the cluster with initdb unless it already exists, and writes
// the port and settings into postgresql.conf. An existing cluster keeps the
// port it was created with, which Init reads back.
func (c *Cluster) Init(ctx context.Context) error {
	if c.Initialized() {
		port, err := readPort(c.cfg.DataDir)
		if err != nil {
			return err
		}
		c.cfg.Port = port
		return nil
	}
	if c.cfg.Port == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.cfg.Port = port
	}
	if err := c.makeOwnedDir(c.cfg.DataDir); err != nil {
		return err
	}

	args := []string{"-D", c.cfg.DataDir, "-U", c.cfg.Superuser, "-E", "UTF8",
		"--locale=C", "--no-sync"}
	if c.cfg.Password != "" {
		// initdb refuses a non-empty data directory, so the password file
		// lives beside it, readable only by the server's user.
		pwfile := c.cfg.DataDir + ".initdb-password"
		if err := c.writeOwnedFile(pwfile, c.cfg.Password+"\n"); err != nil {
			return err
		}
		defer os.Remove(pwfile)
		args = append(args, "--auth=scram-sha-256", "--pwfile="+pwfile)
	} else {
		args = append(args, "--auth=trust")
	}

	start := time.Now()
	if out, err := c.command(ctx, "initdb", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s failed: %w\n%s", c.cfg.DataDir, err, out)
	}

	settings := []string{
		"",
		"# Written by todolog when it created this cluster.",
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", c.cfg.Port),
		// Loopback TCP only: a socket directory would need a path that both
		// root and the postgres user may write to.
		"unix_socket_directories = ''",
		"max_connections = 200",
	}
	settings = append(settings, c.cfg.Settings...)
	conf, err := os.OpenFile(filepath.Join(c.cfg.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening postgresql.conf: %w", err)
	}
	defer conf.Close()
	if _, err := conf.WriteString(strings.Join(settings, "\n") + "\n"); err != nil {
		return fmt.Errorf("writing postgresql.conf: %w", err)
	}
	c.cfg.Logger.Info("created PostgreSQL cluster", "data_dir", c.cfg.DataDir, "port", c.cfg.Port,
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// readPort reads the port that Init wrote into postgresql.conf.
func readPort(dataDir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "postgresql.conf"))
	if err != nil {
		return 0, fmt.Errorf("reading postgresql.conf: %w", err)
	}
	port := 0
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.TrimSpace(name) != "port" {
			continue
		}
		value, _, _ = strings.Cut(value, "#")
		if p, err := strconv.Atoi(strings.TrimSpace(value)); err == nil {
			port = p
		}
	}
	if port == 0 {
		return 0, fmt.Errorf("no port setting in %s", filepath.Join(dataDir, "postgresql.conf"))
	}
	return port, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command builds an exec.Cmd for a server binary, running as the postgres
// user when this process is root.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return c.commandAt(ctx, filepath.Join(c.cfg.BinDir, name), args...)
}

// commandAt builds an exec.Cmd for the binary at path, running as the
// postgres user when this process is root.
func (c *Cluster) commandAt(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: c.runAs.uid, Gid: c.runAs.gid},
		}
	}
	return cmd
}

// makeOwnedDir creates dir (mode 0700) and hands it to the server's user.
func (c *Cluster) makeOwnedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if c.runAs != nil {
		if err := os.Chown(dir, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
			return fmt.Errorf("giving %s to user %s: %w", dir, c.runAs.name, err)
		}
	}
	return nil
}

func (c *Cluster) writeOwnedFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if c.runAs != nil {
		if err := os.Chown(path, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
			return fmt.Errorf("giving %s to user %s: %w", path, c.runAs.name, err)
		}
	}
	return nil
}

package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PgBouncer is a PgBouncer process in transaction pooling mode in front of
// a Cluster, so tests can run the way production runs behind a pooler.
type PgBouncer struct {
	port   int
	cmd    *exec.Cmd
	exited chan error
}

// FindPgBouncer returns the path of the pgbouncer binary:
// TODOLOG_PGBOUNCER when set, else pgbouncer on PATH, else
// /usr/sbin/pgbouncer, where Debian's package puts it.
func FindPgBouncer() (string, error) {
	if path := os.Getenv("TODOLOG_PGBOUNCER"); path != "" {
		return path, nil
	}
	if path, err := exec.LookPath("pgbouncer"); err == nil {
		return path, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", errors.New("pgbouncer not found on PATH or in /usr/sbin; install it (`apt-get install pgbouncer` on Debian) " +
		"or set TODOLOG_PGBOUNCER to its path")
}

// StartPgBouncer starts PgBouncer on a free port of 127.0.0.1 in front of
// the running cluster, in transaction pooling mode, with its configuration
// and log in dir. It trusts loopback clients like the test clusters do and
// looks every login role up in the server (auth_query), so roles created
// later can connect too. The process stops with Stop, or with this process.
func (c *Cluster) StartPgBouncer(ctx context.Context, dir string) (*PgBouncer, error) {
	binary, err := FindPgBouncer()
	if err != nil {
		return nil, err
	}
	if err := c.makeOwnedDir(dir); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"pgbouncer.ini": c.pgBouncerConfig(dir, port),
		"hba.conf":      "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n",
		// auth_user must be listed here; every other role is found with
		// auth_query.
		"users.txt": strconv.Quote(c.cfg.Superuser) + ` ""` + "\n",
	}
	for name, content := range files {
		if err := c.writeOwnedFile(filepath.Join(dir, name), content); err != nil {
			return nil, err
		}
	}

	// PgBouncer refuses to run as root, like PostgreSQL.
	cmd := c.commandAt(context.WithoutCancel(ctx), binary, filepath.Join(dir, "pgbouncer.ini"))
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	p := &PgBouncer{port: port, cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()

	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", p.address(), time.Second)
		if err == nil {
			conn.Close()
			return p, nil
		}
		select {
		case err := <-p.exited:
			return nil, fmt.Errorf("pgbouncer exited during start (see %s): %v", filepath.Join(dir, "pgbouncer.log"), err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("pgbouncer did not listen on %s within %s (see %s)", p.address(), startTimeout,
				filepath.Join(dir, "pgbouncer.log"))
		}
	}
}

// pgBouncerConfig returns pgbouncer.ini for a pooler on port. The pool
// limits leave room for many test databases at once: each database and
// role pair gets its own pool.
func (c *Cluster) pgBouncerConfig(dir string, port int) string {
	lines := []string{
		"[databases]",
		fmt.Sprintf("* = host=127.0.0.1 port=%d", c.cfg.Port),
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		fmt.Sprintf("listen_port = %d", port),
		"unix_socket_dir =",
		"pool_mode = transaction",
		"auth_type = hba",
		"auth_hba_file = " + filepath.Join(dir, "hba.conf"),
		"auth_file = " + filepath.Join(dir, "users.txt"),
		"auth_user = " + c.cfg.Superuser,
		"auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename = $1",
		"max_client_conn = 2000",
		"default_pool_size = 20",
		"max_user_connections = 60",
		"server_idle_timeout = 30",
		// lib/pq sends extra_float_digits, which PgBouncer does not track.
		"ignore_startup_parameters = extra_float_digits",
		"logfile = " + filepath.Join(dir, "pgbouncer.log"),
		"pidfile = " + filepath.Join(dir, "pgbouncer.pid"),
	}
	return strings.Join(lines, "\n") + "\n"
}

// Port returns the port PgBouncer listens on.
func (p *PgBouncer) Port() int { return p.port }

func (p *PgBouncer) address() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// URL returns rawURL, a URL of the cluster behind the pooler, pointed at
// the pooler instead.
func (p *PgBouncer) URL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("invalid database URL: %w", err)
	}
	u.Host = p.address()
	return u.String(), nil
}

// Stop ends PgBouncer at once (SIGTERM), closing every client connection.
func (p *PgBouncer) Stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signalling pgbouncer: %w", err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("pgbouncer did not stop within 10s after SIGTERM; killed it")
	}
}

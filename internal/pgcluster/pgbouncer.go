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
	"sync"
	"syscall"
	"time"
)

// PgBouncer is a PgBouncer process in transaction pooling mode in front of
// a Cluster, so tests can run the way production runs behind a pooler.
type PgBouncer struct {
	port   int
	start  func() (*exec.Cmd, error)
	logger func(format string, args ...any)

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan error
	stopping bool
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

	logPath := filepath.Join(dir, "pgbouncer.log")
	p := &PgBouncer{
		port: port,
		start: func() (*exec.Cmd, error) {
			// PgBouncer refuses to run as root, like PostgreSQL.
			cmd := c.commandAt(context.WithoutCancel(ctx), binary, filepath.Join(dir, "pgbouncer.ini"))
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
			if err := cmd.Start(); err != nil {
				return nil, fmt.Errorf("starting %s: %w", binary, err)
			}
			return cmd, nil
		},
		logger: func(format string, args ...any) {
			c.cfg.Logger.Warn(fmt.Sprintf(format, args...), "log", logPath)
		},
	}
	if err := p.run(); err != nil {
		return nil, err
	}

	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", p.address(), time.Second)
		if err == nil {
			conn.Close()
			return p, nil
		}
		select {
		case <-p.exitedOnce():
			return nil, fmt.Errorf("pgbouncer exited during start (see %s)", logPath)
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

// run starts the process and restarts it when it exits before Stop.
// PgBouncer 1.18 can exit on an internal error ("bad client state" in
// disconnect_client) when a client disconnects while its cancel request is
// in flight. After a restart on the same port, only the clients connected
// at that moment get errors, and the pooler serves the rest of the run.
func (p *PgBouncer) run() error {
	cmd, err := p.start()
	if err != nil {
		return err
	}
	exited := make(chan error, 1)
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		exited <- err
		close(exited)
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if stopping {
			return
		}
		p.logger("pgbouncer exited unexpectedly (%v); restarting it", err)
		// The old process may hold the port for a moment.
		time.Sleep(100 * time.Millisecond)
		if err := p.run(); err != nil {
			p.logger("restarting pgbouncer failed: %v", err)
		}
	}()
	return nil
}

// exitedOnce returns a channel closed when the current process exits.
func (p *PgBouncer) exitedOnce() <-chan error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Stop ends PgBouncer at once (SIGTERM), closing every client connection.
func (p *PgBouncer) Stop() error {
	p.mu.Lock()
	p.stopping = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling pgbouncer: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("pgbouncer did not stop within 10s after SIGTERM; killed it")
	}
}

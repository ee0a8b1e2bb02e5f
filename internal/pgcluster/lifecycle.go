package pgcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver
)

// startTimeout bounds how long a start waits for the server to accept
// connections. Crash recovery after an unclean stop can take a while.
const startTimeout = 60 * time.Second

// LogFile is the server log of a cluster started with Start.
func (c *Cluster) LogFile() string {
	return filepath.Join(c.cfg.DataDir, "log", "server.log")
}

// Running reports whether a server is running on the data directory.
func (c *Cluster) Running(ctx context.Context) (bool, error) {
	if !c.Initialized() {
		return false, nil
	}
	err := c.command(ctx, "pg_ctl", "status", "-D", c.cfg.DataDir).Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		// pg_ctl status exits 3 when no server is running.
		return false, nil
	default:
		return false, fmt.Errorf("pg_ctl status -D %s: %w", c.cfg.DataDir, err)
	}
}

// Start starts the server in the background with pg_ctl, so it outlives this
// process, and waits until it accepts connections. Starting a running
// cluster does nothing.
func (c *Cluster) Start(ctx context.Context) error {
	running, err := c.Running(ctx)
	if err != nil {
		return err
	}
	if running {
		return nil
	}
	if err := c.makeOwnedDir(filepath.Dir(c.LogFile())); err != nil {
		return err
	}
	start := time.Now()
	args := []string{"start", "-D", c.cfg.DataDir, "-l", c.LogFile(), "-w",
		"-t", strconv.Itoa(int(startTimeout.Seconds()))}
	if out, err := c.command(ctx, "pg_ctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("starting PostgreSQL in %s failed: %w\n%s(server log: %s)",
			c.cfg.DataDir, err, out, c.LogFile())
	}
	if err := c.waitReady(ctx, startTimeout); err != nil {
		return fmt.Errorf("%w (server log: %s)", err, c.LogFile())
	}
	c.cfg.Logger.Info("started PostgreSQL", "data_dir", c.cfg.DataDir, "port", c.cfg.Port,
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// Stop stops a server started with Start, disconnecting clients and waiting
// for a clean shutdown. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	running, err := c.Running(ctx)
	if err != nil || !running {
		return err
	}
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.cfg.DataDir, "-m", "fast", "-w").CombinedOutput()
	if err != nil {
		return fmt.Errorf("stopping PostgreSQL in %s failed: %w\n%s", c.cfg.DataDir, err, out)
	}
	c.cfg.Logger.Info("stopped PostgreSQL", "data_dir", c.cfg.DataDir)
	return nil
}

// RunChild starts the server as a child of this process and returns a
// function that stops it. The child receives SIGQUIT (immediate shutdown)
// if this process dies first, so a test binary killed by a timeout leaves
// no server behind.
func (c *Cluster) RunChild(ctx context.Context, logFile *os.File) (stop func() error, err error) {
	cmd := c.command(context.WithoutCancel(ctx), "postgres", "-D", c.cfg.DataDir)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres in %s: %w", c.cfg.DataDir, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ready := make(chan error, 1)
	go func() { ready <- c.waitReady(ctx, startTimeout) }()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			<-exited
			return nil, err
		}
	case err := <-exited:
		return nil, fmt.Errorf("postgres in %s exited during start: %v", c.cfg.DataDir, err)
	}

	stop = func() error {
		// SIGINT requests a fast shutdown: clients are disconnected and the
		// server writes a checkpoint.
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			return fmt.Errorf("signalling postgres: %w", err)
		}
		select {
		case <-exited:
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			<-exited
			return errors.New("postgres did not stop within 30s after SIGINT; sent SIGQUIT")
		}
	}
	return stop, nil
}

// waitReady polls until the server accepts a login. An open port alone is
// not enough: during start-up and recovery the server rejects logins.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	db, err := sql.Open("postgres", c.URL("postgres")+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL on port %d did not accept logins within %s: %w", c.cfg.Port, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

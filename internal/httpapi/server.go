package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/todolog/todolog/commands"
	"github.com/todolog/todolog/internal/database"
)

// DefaultMaxBodyBytes bounds a request body: a message of the maximum
// 100,000 characters takes at most 400,000 bytes of UTF-8, and JSON escapes
// can grow it further.
const DefaultMaxBodyBytes = 1 << 20

// Config configures a Server.
type Config struct {
	// Commands runs the commands the API receives.
	Commands commands.Dispatcher
	// DB is pinged by the readiness probe.
	DB   *sql.DB
	Auth Auth
	// MaxBodyBytes bounds request bodies; larger ones get 413. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ConsistencyTimeout bounds a query's wait for a consistency token.
	// Past it the query returns 504. Zero means DefaultConsistencyTimeout.
	ConsistencyTimeout time.Duration
	// QueryRetry bounds how often a query is run again after a transient
	// database error. Zero fields take the defaults of database.RetryPolicy:
	// 8 attempts within 10 s. MaxAttempts 1 turns these retries off.
	// Commands are retried by the Dispatcher (commands.Config.Retry).
	QueryRetry database.RetryPolicy
	// ReadinessTimeout bounds the database check of /readyz. Zero means
	// DefaultReadinessTimeout.
	ReadinessTimeout time.Duration
	// Registerer receives the HTTP metrics. Nil means a new registry.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics. Nil means the Registerer when it is a
	// *prometheus.Registry.
	Gatherer prometheus.Gatherer
	// Logger receives request errors. Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var problems []error
	if c.Commands == nil {
		problems = append(problems, errors.New("httpapi: Commands is required"))
	}
	if c.DB == nil {
		problems = append(problems, errors.New("httpapi: DB is required"))
	}
	if c.MaxBodyBytes < 0 {
		problems = append(problems, fmt.Errorf("httpapi: MaxBodyBytes must not be negative, got %d", c.MaxBodyBytes))
	}
	if c.ReadinessTimeout < 0 {
		problems = append(problems, fmt.Errorf("httpapi: ReadinessTimeout must not be negative, got %s", c.ReadinessTimeout))
	}
	if err := c.QueryRetry.Validate(); err != nil {
		problems = append(problems, fmt.Errorf("httpapi: QueryRetry: %w", err))
	}
	if err := c.Auth.Validate(); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// DefaultReadinessTimeout is the Config.ReadinessTimeout used when none is
// set.
const DefaultReadinessTimeout = 2 * time.Second

// Server serves the HTTP API.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	mux      *http.ServeMux
	requests *prometheus.HistogramVec

	// ping is the readiness ping in flight, nil when none is.
	pingMu sync.Mutex
	ping   *readinessPing
}

// readinessPing is one ping of the database, shared by every /readyz
// request that arrives while it runs.
type readinessPing struct {
	done chan struct{}
	err  error // set before done is closed
}

// New checks cfg, fills in its defaults and registers the routes.
func New(cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ConsistencyTimeout == 0 {
		cfg.ConsistencyTimeout = DefaultConsistencyTimeout
	}
	if cfg.ReadinessTimeout == 0 {
		cfg.ReadinessTimeout = DefaultReadinessTimeout
	}
	cfg.QueryRetry = cfg.QueryRetry.WithDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		registry := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = registry, registry
	}
	if cfg.Gatherer == nil {
		if registry, ok := cfg.Registerer.(*prometheus.Registry); ok {
			cfg.Gatherer = registry
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	s := &Server{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux()}
	s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "todolog_http_request_duration_seconds",
		Help:    "Duration of HTTP requests, by route pattern and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	if err := cfg.Registerer.Register(s.requests); err != nil {
		return nil, fmt.Errorf("registering HTTP metrics: %w", err)
	}
	if cfg.Auth.Disabled {
		s.logger.Warn("authentication is disabled: every client may act as every user; use this for local development only")
	}

	for _, route := range commandRoutes {
		s.handle(route.pattern, s.handleCommand(route))
	}
	s.registerQueries()
	s.handle("GET /healthz", s.handleHealth)
	s.handle("GET /readyz", s.handleReady)
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, fmt.Errorf("%w: no endpoint %s %s", errNotFound, r.Method, r.URL.Path))
	})
	return s, nil
}

// Handle registers an extra route, such as the query endpoints, with the
// same metrics and panic handling as the built-in ones.
func (s *Server) Handle(pattern string, handler http.HandlerFunc) {
	s.handle(pattern, handler)
}

// Authorize checks r's credentials for userID, for routes added with
// Handle, and writes the error response when they fail.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request, userID string) bool {
	if err := s.cfg.Auth.authorize(r, userID); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// WriteError sends err as a JSON error with the status its kind maps to.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}

// WriteJSON sends body as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, body any) { writeJSON(w, status, body) }

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) handle(pattern string, handler http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				s.logger.Error("request panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
				if !recorder.written {
					s.writeError(recorder, r, fmt.Errorf("panic: %v", p))
				}
			}
			s.requests.WithLabelValues(pattern, strconv.Itoa(recorder.status)).Observe(time.Since(start).Seconds())
		}()
		handler(recorder, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status, r.written = status, true
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(b)
}

// handleHealth reports whether the process is alive. It does not touch the
// database, so a database outage does not get the process restarted.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady reports whether the database responds to a ping within
// ReadinessTimeout. The response is sent by then even when the ping does
// not return, because lib/pq cannot interrupt a read from a server that
// went silent. Requests that arrive while a ping runs wait for that ping
// instead of starting another, so a silent server never collects more
// than one waiting ping.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ping := s.startPing()
	timer := time.NewTimer(s.cfg.ReadinessTimeout)
	defer timer.Stop()

	var err error
	select {
	case <-ping.done:
		err = ping.err
	case <-timer.C:
		err = fmt.Errorf("no response within %s", s.cfg.ReadinessTimeout)
	case <-r.Context().Done():
		return
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: pinging the database: %v", errDatabaseDown, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// startPing returns the readiness ping in flight, or starts one. The ping
// gives up after ReadinessTimeout where the driver lets it.
func (s *Server) startPing() *readinessPing {
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	if s.ping != nil {
		return s.ping
	}
	ping := &readinessPing{done: make(chan struct{})}
	s.ping = ping
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ReadinessTimeout)
		defer cancel()
		ping.err = s.cfg.DB.PingContext(ctx)

		s.pingMu.Lock()
		s.ping = nil
		s.pingMu.Unlock()
		close(ping.done)
	}()
	return ping
}

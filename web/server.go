// Package web serves ivrd's HTTP API: the call log, the queues, the state
// of the flow library and a health check, all as JSON; the agents' desk
// and the supervisors' view, two pages embedded in ivrd; and the service
// figures as Prometheus metrics.
//
// The API is for supervisors' tools and for channels that are not calls:
// a chat or an email is put in the shared queue with POST /api/contacts and
// waits there beside the calls. Agents sign in to the desk with their
// token, receive the contacts offered to them with their screen-pop over
// server-sent events, and take calls on their phone or in the browser
// (WebRTC). Every endpoint that shows or changes personal data (call
// records, contacts, callbacks, recordings) wants a user from the
// configuration, authenticated by its token, whose role says what it may
// reach; only the health check, the metrics (aggregates), the prompts and
// the pages answer without one. Every request to a recording is audited,
// allowed or not. See README.md for the endpoints.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// CallStore is the call log as the API reads it (store.CallLog).
type CallStore interface {
	ListCalls(ctx context.Context, f store.CallFilter) ([]ivr.CallRecord, error)
	// GetCall fails with an error wrapping store.ErrNotFound for an unknown id.
	GetCall(ctx context.Context, id string) (*ivr.CallRecord, error)
}

// QueueStore is the shared queue as the API sees it (routing.Queues).
type QueueStore interface {
	List(ctx context.Context, queue string) ([]routing.WaitingContact, error)
	Summary(ctx context.Context) ([]routing.QueueSummary, error)
	Post(ctx context.Context, c ivr.Contact) (string, error)
}

// FlowStatus reports the state of the flow library: when it was last
// loaded, whether that worked, and the diagnostics with their positions.
// Status must be safe to call from any goroutine; its result is served as
// JSON as is.
type FlowStatus interface {
	Status() any
}

// Config configures a Server. Calls, Queues, Agents, WebRTC, Flows,
// Recordings and Health may be nil: their endpoints then answer 503.
type Config struct {
	Addr   string // listen address, e.g. ":8080"
	Calls  CallStore
	Queues QueueStore
	// Agents serves the agent desk, the supervisors' board and stats, and
	// /metrics (routing.Queues).
	Agents AgentDesk
	// Callbacks serves the callback requests to supervisors; nil uses
	// Agents when it serves them too (routing.Queues does).
	Callbacks CallbackDesk
	// WebRTC answers the desk of agents who take calls in the browser
	// (web.WebRTCFrom(*media.WebRTC)).
	WebRTC WebRTC
	// ActiveCalls, when set, gives /metrics the number of calls in
	// progress.
	ActiveCalls func() int
	Flows       FlowStatus
	// Prompts, when set, serves the flows' prompts by content id on
	// GET /prompts/{id}.wav for players that fetch them over HTTP.
	Prompts PromptSource
	// Recordings serves the restricted recordings endpoints; Users are
	// who may reach them (see ValidateUsers).
	Recordings RecordingStore
	Users      []User
	// Health returns the body of GET /healthz; nil serves {"status":"ok"}.
	Health func() any
	// Pprof serves the Go runtime profiles on /debug/pprof/. They reveal
	// ivrd's internals: never enable it on a public address.
	Pprof  bool
	Logger *slog.Logger
	// ShutdownTimeout bounds the wait for requests in flight when the
	// server stops (default 5s).
	ShutdownTimeout time.Duration
}

// Timeouts of the http.Server: a slow or idle client must not hold a
// connection and its goroutine forever.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Server is the HTTP API server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	auth    *authenticator
	fails   *failLimiter
	timings streamTimings
	ui      *uiFiles
	// statsCache shares the service figures between /metrics, /api/stats
	// and the supervisors' streams.
	statsCache statsCache
	// readTimeout and writeTimeout of the http.Server; tests shorten them
	// to show that event streams outlive them.
	readTimeout, writeTimeout time.Duration

	// closing is closed when Serve stops: event streams end then rather
	// than hold the shutdown.
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns a server for cfg; it does not listen until ListenAndServe.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), fails: newFailLimiter(nil),
		timings: defaultStreamTimings, ui: loadUI(), closing: make(chan struct{}),
		readTimeout: readTimeout, writeTimeout: writeTimeout,
	}
	var err error
	if s.auth, err = newAuthenticator(cfg.Users); err != nil {
		s.log.Error("http users refused: nobody can log in", "err", err)
	}
	s.routes()
	s.handler = s.logRequests(s.recoverPanics(http.HandlerFunc(s.route)))
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /api/calls", s.listCalls)
	s.mux.HandleFunc("GET /api/calls/{id}", s.getCall)
	s.mux.HandleFunc("GET /api/queues", s.queueSummary)
	s.mux.HandleFunc("GET /api/queues/{name}", s.listQueue)
	s.mux.HandleFunc("POST /api/contacts", s.postContact)
	s.mux.HandleFunc("POST /api/contacts/{id}/connect", s.connectContact)
	s.mux.HandleFunc("GET /api/me", s.getMe)
	s.mux.HandleFunc("GET /api/agent", s.getAgent)
	s.mux.HandleFunc("POST /api/agent/state", s.postAgentState)
	s.mux.HandleFunc("POST /api/agent/offers/{id}/accept", s.acceptOffer)
	s.mux.HandleFunc("POST /api/agent/offers/{id}/reject", s.rejectOffer)
	s.mux.HandleFunc("POST /api/agent/contacts/{id}/hangup", s.hangUp)
	s.mux.HandleFunc("GET /api/agent/events", s.agentEvents)
	s.mux.HandleFunc("GET /api/agents", s.listAgents)
	s.mux.HandleFunc("POST /api/agents/{name}/state", s.postAgentsState)
	s.mux.HandleFunc("GET /api/board", s.getBoard)
	s.mux.HandleFunc("GET /api/stats", s.getStats)
	s.mux.HandleFunc("GET /api/callbacks", s.listCallbacks)
	s.mux.HandleFunc("DELETE /api/callbacks/{id}", s.cancelCallback)
	s.mux.HandleFunc("GET /api/supervisor/events", s.supervisorEvents)
	s.mux.HandleFunc("GET /metrics", s.metrics)
	s.mux.HandleFunc("GET /desk", s.page("desk.html"))
	s.mux.HandleFunc("GET /supervisor", s.page("supervisor.html"))
	s.mux.HandleFunc("GET /ui/{file}", s.asset)
	s.mux.HandleFunc("GET /api/recordings", s.searchRecordings)
	s.mux.HandleFunc("GET /api/recordings/{id}", s.getRecording)
	s.mux.HandleFunc("GET /api/recordings/{id}/audio", s.getAudio)
	s.mux.HandleFunc("PUT /api/recordings/{id}/hold", s.putHold)
	s.mux.HandleFunc("DELETE /api/recordings/{id}/hold", s.deleteHold)
	s.mux.HandleFunc("GET /api/audit", s.auditLog)
	s.mux.HandleFunc("GET /api/purges", s.purgeLog)
	s.mux.HandleFunc("GET /api/flows", s.flows)
	s.mux.HandleFunc("GET /healthz", s.health)
	s.mux.HandleFunc("GET /prompts/{file}", s.getPrompt)
	s.routePprof()
}

// Handler is the server's handler, with logging, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on cfg.Addr and serves until ctx is done, then
// shuts down gracefully: it stops accepting and waits up to
// ShutdownTimeout for requests in flight.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if s.cfg.Addr == "" {
		return errors.New("listen http: empty address")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, like ListenAndServe. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       s.readTimeout,
		WriteTimeout:      s.writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests keep ctx's values but not its cancellation, so that
		// shutting down lets requests in flight finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	fresh := &freshConns{conns: map[net.Conn]struct{}{}}
	srv.ConnState = fresh.track
	srv.RegisterOnShutdown(fresh.close)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("http api listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		s.closeStreams()
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	s.closeStreams()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Requests still running after the timeout are cut.
		err = errors.Join(fmt.Errorf("shut down http: %w", err), srv.Close())
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve http: %w", serr))
	}
	s.log.Info("http api stopped")
	return err
}

// closeStreams ends the event streams.
func (s *Server) closeStreams() { s.closeOnce.Do(func() { close(s.closing) }) }

// freshConns are the connections that have not sent a request yet. A
// browser opens some ahead of need; Shutdown would wait 5 s for each
// before taking it for idle. They are closed when the shutdown begins,
// after the listener is.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state == http.StateNew {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
}

func (f *freshConns) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
		delete(f.conns, c)
	}
}

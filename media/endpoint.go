package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"
)

// EndpointConfig configures an Endpoint.
type EndpointConfig struct {
	// IP is the local address RTP sockets bind to (e.g. 127.0.0.1, or 0.0.0.0
	// for all IPv4 interfaces).
	IP netip.Addr
	// PortMin and PortMax bound the RTP ports; sessions use even ports only
	// (RFC 3550 leaves the odd one above for RTCP).
	PortMin int
	PortMax int
	// MediaTimeout ends a session with ErrMediaTimeout when no RTP came from
	// the peer for this long after Start. Zero disables it.
	MediaTimeout time.Duration
	// Logger receives the endpoint's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Endpoint holds the media resources shared by all calls of the daemon: the
// RTP port range, the pacer goroutines that send every session's packets
// and, once a session records, the writer goroutine of the recordings.
type Endpoint struct {
	cfg     EndpointConfig
	log     *slog.Logger
	network string
	start   time.Time // tick k of every pacer is due at start + k*frameDuration
	pacers  []*pacer
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	nextPort int
	ports    map[int]*Session // ports in use
	rec      *recWriter       // the recordings' writer, started by the first Session.Record
}

// NewEndpoint validates cfg and starts the pacers: pacerPhases of them, or
// one per GOMAXPROCS if that is more.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if !cfg.IP.IsValid() {
		return nil, errors.New("new endpoint: no IP address")
	}
	cfg.IP = cfg.IP.Unmap()
	if cfg.PortMin%2 == 1 {
		cfg.PortMin++
	}
	if cfg.PortMin <= 0 || cfg.PortMax > 65535 || cfg.PortMax < cfg.PortMin {
		return nil, fmt.Errorf("new endpoint: invalid rtp port range %d-%d", cfg.PortMin, cfg.PortMax)
	}
	if cfg.MediaTimeout < 0 {
		return nil, fmt.Errorf("new endpoint: negative media timeout %v", cfg.MediaTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Endpoint{
		cfg:      cfg,
		log:      cfg.Logger,
		network:  "udp",
		start:    time.Now(),
		nextPort: cfg.PortMin,
		ports:    make(map[int]*Session),
	}
	if cfg.IP.Is4() {
		e.network = "udp4"
	}
	// The pacers' schedules are staggered evenly over the 20 ms frame, so
	// their sends spread over the frame instead of all calls' packets
	// leaving in one burst per tick.
	n := max(pacerPhases, runtime.GOMAXPROCS(0))
	e.pacers = make([]*pacer, n)
	for i := range e.pacers {
		p := newPacer(e.start.Add(time.Duration(i) * frameDuration / time.Duration(n)))
		e.pacers[i] = p
		e.wg.Go(p.run)
	}
	return e, nil
}

// Close closes every session (their Err is ErrClosed), ending their
// recordings, and stops the pacers and the recording writer once the
// recordings' last frames are written.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	sessions := make([]*Session, 0, len(e.ports))
	for _, s := range e.ports {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()

	for _, s := range sessions {
		s.Close()
	}
	for _, p := range e.pacers {
		close(p.quit)
	}
	// The sessions' recordings ended with them; the writer stops once it
	// has written their last frames.
	e.closeRecordWriter()
	e.wg.Wait()
	return nil
}

// Sessions returns the number of open sessions.
func (e *Endpoint) Sessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ports)
}

// NewSession binds a UDP socket on a free even port of the range and
// returns a session ready to Start. logger is the call's logger (with its
// call_id); nil means the endpoint's.
func (e *Endpoint) NewSession(logger *slog.Logger) (*Session, error) {
	if logger == nil {
		logger = e.log
	}
	s := &Session{
		ep:       e,
		ssrc:     rand.Uint32(),
		seq:      uint16(rand.Uint32()),
		tsBase:   rand.Uint32(),
		lastTick: -2,
		dtmf:     make(chan DTMFEvent, dtmfQueue),
		done:     make(chan struct{}),
	}
	s.sending.Store(true)
	s.mediaTimeout.Store(int64(e.cfg.MediaTimeout))

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("new session: %w", ErrClosed)
	}
	conn, port, err := e.bindLocked()
	if err != nil {
		return nil, fmt.Errorf("new session: %w", err)
	}
	s.conn = conn
	s.local = netip.AddrPortFrom(e.cfg.IP, uint16(port))
	s.log = logger.With("rtp_port", port)
	e.ports[port] = s

	// Shard sessions over the pacers, least loaded first.
	p := e.pacers[0]
	for _, q := range e.pacers[1:] {
		if q.len() < p.len() {
			p = q
		}
	}
	s.pacer = p
	p.add(s)
	return s, nil
}

// bindLocked binds the next free even port, round robin over the range so a
// port just released is reused last (late packets of the old call then find
// no one). Ports taken by other processes are skipped.
func (e *Endpoint) bindLocked() (*net.UDPConn, int, error) {
	var lastErr error
	for range (e.cfg.PortMax-e.cfg.PortMin)/2 + 1 {
		port := e.nextPort
		e.nextPort += 2
		if e.nextPort > e.cfg.PortMax {
			e.nextPort = e.cfg.PortMin
		}
		if _, used := e.ports[port]; used {
			continue
		}
		addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.cfg.IP, uint16(port)))
		conn, err := net.ListenUDP(e.network, addr)
		if err != nil {
			lastErr = err
			continue
		}
		return conn, port, nil
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("%w in %d-%d: %w", ErrNoPort, e.cfg.PortMin, e.cfg.PortMax, lastErr)
	}
	return nil, 0, fmt.Errorf("%w in %d-%d", ErrNoPort, e.cfg.PortMin, e.cfg.PortMax)
}

// release gives a closed session's port back.
func (e *Endpoint) release(s *Session) {
	e.mu.Lock()
	if e.ports[int(s.local.Port())] == s {
		delete(e.ports, int(s.local.Port()))
	}
	e.mu.Unlock()
}

// sinceStart returns the monotonic time since the endpoint started, the
// session clock for receive times.
func (e *Endpoint) sinceStart() time.Duration { return time.Since(e.start) }

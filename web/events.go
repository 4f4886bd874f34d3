package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Server-sent events. The desk reads them with fetch() rather than
// EventSource, which cannot send the Authorization header.
//
// A stream outlives the server's write timeout: each write gets its own
// deadline instead, so a client that stops reading is still cut, but a
// long stream is not.
const (
	// sseKeepAlive is the interval of the comments that keep a quiet
	// stream through proxies and show the client it is alive.
	sseKeepAlive = 15 * time.Second
	// sseWriteTimeout bounds one event's write.
	sseWriteTimeout = 10 * time.Second
	// boardEvery and statsEvery push the supervisors' picture even when
	// nothing changed: the wait times grow.
	boardEvery = 2 * time.Second
	statsEvery = 5 * time.Second
	// boardGap and statsGap are the shortest time between two pushes when
	// changes come in bursts.
	boardGap = 250 * time.Millisecond
	statsGap = time.Second
)

// streamTimings are the SSE intervals; tests shorten them.
type streamTimings struct {
	keepAlive, writeTimeout time.Duration
	boardEvery, statsEvery  time.Duration
	boardGap, statsGap      time.Duration
}

var defaultStreamTimings = streamTimings{
	keepAlive: sseKeepAlive, writeTimeout: sseWriteTimeout,
	boardEvery: boardEvery, statsEvery: statsEvery,
	boardGap: boardGap, statsGap: statsGap,
}

// sseStream writes server-sent events.
type sseStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	id      int
	buf     []byte
}

// startSSE answers 200 with an event stream.
func (s *Server) startSSE(w http.ResponseWriter) (*sseStream, error) {
	// The server's WriteTimeout would cut the stream: each write gets its
	// own deadline instead. (net/http lifts the read deadline itself once
	// the request is read.)
	rc := http.NewResponseController(w)
	st := &sseStream{w: w, rc: rc, timeout: s.timings.writeTimeout}
	if err := st.deadline(); err != nil {
		return nil, err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// nginx buffers responses unless told not to.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return st, st.write([]byte(": ivrd events\n\n"))
}

func (st *sseStream) deadline() error {
	err := st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return nil
}

func (st *sseStream) write(b []byte) error {
	if err := st.deadline(); err != nil {
		return err
	}
	if _, err := st.w.Write(b); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := st.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}

// event writes one event: its name, a sequence number, and v as JSON on
// one data line (JSON as encoded here holds no newline).
func (st *sseStream) event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", name, err)
	}
	st.id++
	st.buf = fmt.Appendf(st.buf[:0], "event: %s\nid: %d\ndata: %s\n\n", name, st.id, data)
	return st.write(st.buf)
}

// comment writes a comment line, which clients ignore.
func (st *sseStream) comment(text string) error {
	st.buf = fmt.Appendf(st.buf[:0], ": %s\n\n", text)
	return st.write(st.buf)
}

// agentEvents serves GET /api/agent/events: the user's agent events as
// they happen, the current state first. The stream ends when the client
// goes, or when ivrd stops.
func (s *Server) agentEvents(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, staff...)
	if !ok {
		return
	}
	events, stop, err := s.cfg.Agents.Subscribe(u.Name)
	if err != nil {
		s.deskError(w, r, err, "agent "+u.Name)
		return
	}
	defer stop()
	st, err := s.startSSE(w)
	if err != nil {
		s.log.WarnContext(r.Context(), "agent events", "agent", u.Name, "err", err)
		return
	}
	keep := time.NewTicker(s.timings.keepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if err := st.event(ev.Type, ev); err != nil {
				s.log.DebugContext(r.Context(), "agent events ended", "agent", u.Name, "err", err)
				return
			}
		case <-keep.C:
			if err := st.comment("keep-alive"); err != nil {
				s.log.DebugContext(r.Context(), "agent events ended", "agent", u.Name, "err", err)
				return
			}
		}
	}
}

// supervisorEvents serves GET /api/supervisor/events: the board ("board",
// as GET /api/board) each time it changes and every few seconds, and the
// service figures ("stats", as GET /api/stats).
func (s *Server) supervisorEvents(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, supervising...)
	if !ok {
		return
	}
	changed, stop := s.cfg.Agents.Watch()
	defer stop()
	st, err := s.startSSE(w)
	if err != nil {
		s.log.WarnContext(r.Context(), "supervisor events", "user", u.Name, "err", err)
		return
	}
	p := &boardPusher{s: s, st: st, r: r, boardDue: true, statsDue: true}
	p.flush = time.NewTimer(time.Hour)
	p.flush.Stop()
	defer p.flush.Stop()
	boardTick := time.NewTicker(s.timings.boardEvery)
	defer boardTick.Stop()
	statsTick := time.NewTicker(s.timings.statsEvery)
	defer statsTick.Stop()
	for err = p.push(); err == nil; err = p.push() {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-changed:
			p.boardDue, p.statsDue = true, true
		case <-p.flush.C:
		case <-boardTick.C:
			p.boardDue = true
		case <-statsTick.C:
			p.statsDue = true
		}
	}
	s.log.DebugContext(r.Context(), "supervisor events ended", "user", u.Name, "err", err)
}

// boardPusher sends the board and the stats when due, no more often than
// the gaps allow: a burst of changes gives one push.
type boardPusher struct {
	s                    *Server
	st                   *sseStream
	r                    *http.Request
	boardDue, statsDue   bool
	lastBoard, lastStats time.Time
	flush                *time.Timer
}

func (p *boardPusher) push() error {
	now := time.Now()
	t := &p.s.timings
	if p.boardDue && now.Sub(p.lastBoard) >= t.boardGap {
		p.boardDue, p.lastBoard = false, now
		b, err := p.s.cfg.Agents.Board(p.r.Context())
		if err != nil {
			p.s.log.WarnContext(p.r.Context(), "read board", "err", err)
		} else if err := p.st.event("board", b); err != nil {
			return err
		}
	}
	if p.statsDue && now.Sub(p.lastStats) >= t.statsGap {
		p.statsDue, p.lastStats = false, now
		s, err := p.s.stats(p.r.Context())
		if err != nil {
			p.s.log.WarnContext(p.r.Context(), "read stats", "err", err)
		} else if err := p.st.event("stats", s); err != nil {
			return err
		}
	}
	wait := time.Duration(-1)
	if p.boardDue {
		wait = t.boardGap - now.Sub(p.lastBoard)
	}
	if d := t.statsGap - now.Sub(p.lastStats); p.statsDue && (wait < 0 || d < wait) {
		wait = d
	}
	if wait >= 0 {
		p.flush.Reset(wait)
	}
	return nil
}

package sip

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// idleListener closes accepted connections that carry no traffic for the
// idle timeout. sipgo's TCP transport reads without a deadline, so without
// this a peer that connects and goes silent holds a socket and a goroutine
// forever.
//
// A connection that carries an active call is never closed for idleness:
// a long call has no signalling between INVITE and BYE, and the BYE must be
// able to go out on the connection the INVITE came in on.
type idleListener struct {
	net.Listener
	timeout time.Duration

	mu    sync.Mutex
	conns map[string]*idleConn // by remote address
}

func newIdleListener(l net.Listener, timeout time.Duration) *idleListener {
	return &idleListener{Listener: l, timeout: timeout, conns: make(map[string]*idleConn)}
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ic := &idleConn{Conn: c, timeout: l.timeout, owner: l, key: c.RemoteAddr().String(), frame: &crlfFramer{}}
	l.mu.Lock()
	l.conns[ic.key] = ic
	l.mu.Unlock()
	return ic, nil
}

// hold marks the connection from raddr as carrying a call; the returned
// function releases it. Unknown addresses (UDP, closed conns) are a no-op.
func (l *idleListener) hold(raddr string) (release func()) {
	l.mu.Lock()
	c := l.conns[raddr]
	l.mu.Unlock()
	if c == nil {
		return func() {}
	}
	c.calls.Add(1)
	var once sync.Once
	return func() { once.Do(func() { c.calls.Add(-1) }) }
}

// closeConn closes the connection from raddr, if there is one.
func (l *idleListener) closeConn(raddr string) {
	l.mu.Lock()
	c := l.conns[raddr]
	l.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (l *idleListener) forget(c *idleConn) {
	l.mu.Lock()
	if l.conns[c.key] == c {
		delete(l.conns, c.key)
	}
	l.mu.Unlock()
}

type idleConn struct {
	net.Conn
	timeout time.Duration
	owner   *idleListener
	key     string
	calls   atomic.Int32
	closed  sync.Once
	frame   *crlfFramer
}

// Read extends the deadline before each read, so the connection closes
// after timeout without a byte received, unless a call holds it.
func (c *idleConn) Read(b []byte) (int, error) {
	for {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(b)
		if err != nil && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && c.calls.Load() > 0 {
			continue
		}
		if n > 0 {
			n = c.frame.filter(b[:n])
		}
		return n, err
	}
}

func (c *idleConn) Close() error {
	c.closed.Do(func() { c.owner.forget(c) })
	return c.Conn.Close()
}

// maxFrameHead bounds the header section crlfFramer looks through, as
// sipgo bounds a message (sipmsg.ParseMaxMessageLength).
const maxFrameHead = 65535

// crlfFramer follows the messages of a TCP stream to drop the CRLFs a peer
// sends before a start line, which RFC 3261 section 7.5 says to ignore and
// sipgo takes for a broken start line, closing the connection (a REGISTER
// followed by CRLF and an INVITE, RFC 4475 section 3.1.1.8). It frames
// the stream as sipgo does (end of headers, then the last Content-Length)
// and only ever drops CR and LF bytes at a message start; a read of at
// most 4 CRLF bytes alone is a keep-alive, left to sipgo, which answers it. When the framing is unclear (no end of headers
// within maxFrameHead, no or a bad Content-Length) it stops and lets
// everything through, as sipgo would then close the connection anyway.
type crlfFramer struct {
	state    int // frameStart, frameHead, frameBody, frameOff
	head     []byte
	bodyLeft int
}

const (
	frameStart = iota
	frameHead
	frameBody
	frameOff
)

// filter drops what must be dropped from the bytes just read, in place,
// and returns how many are left.
func (f *crlfFramer) filter(b []byte) int {
	out := 0
	for i := 0; i < len(b); {
		switch f.state {
		case frameOff:
			out += copy(b[out:], b[i:])
			return out
		case frameStart:
			j := i
			for j < len(b) && (b[j] == '\r' || b[j] == '\n') {
				j++
			}
			if j == len(b) {
				if i > 0 {
					return out // after a message in the same read: dropped
				}
				// A read of CRLFs alone is a keep-alive, which sipgo
				// answers when it is at most 4 bytes long.
				if len(b) > 4 {
					return 0
				}
				return len(b)
			}
			i = j
			f.state = frameHead
			f.head = f.head[:0]
		case frameHead:
			end := -1
			for j := i; j < len(b); j++ {
				f.head = append(f.head, b[j])
				if len(f.head) >= 4 && string(f.head[len(f.head)-4:]) == "\r\n\r\n" {
					end = j + 1
					break
				}
			}
			if end < 0 {
				out += copy(b[out:], b[i:])
				if len(f.head) > maxFrameHead {
					f.state, f.head = frameOff, nil
				}
				return out
			}
			out += copy(b[out:], b[i:end])
			i = end
			cl, ok := contentLength(f.head)
			f.head = f.head[:0]
			switch {
			case !ok:
				f.state, f.head = frameOff, nil
			case cl == 0:
				f.state = frameStart
			default:
				f.state, f.bodyLeft = frameBody, cl
			}
		case frameBody:
			n := min(f.bodyLeft, len(b)-i)
			out += copy(b[out:], b[i:i+n])
			i += n
			f.bodyLeft -= n
			if f.bodyLeft == 0 {
				f.state = frameStart
			}
		}
	}
	return out
}

// contentLength is the value of the last Content-Length (or l) header of
// a header section, as sipgo frames a stream with it.
func contentLength(head []byte) (int, bool) {
	value, found := "", false
	for _, line := range strings.Split(string(head), "\r\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n := strings.TrimSpace(name); strings.EqualFold(n, "content-length") || strings.EqualFold(n, "l") {
			value, found = strings.TrimSpace(v), true
		}
	}
	if !found {
		return 0, false
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 || n > maxFrameHead {
		return 0, false
	}
	return n, true
}

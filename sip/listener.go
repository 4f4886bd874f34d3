package sip

import (
	"errors"
	"net"
	"os"
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
	ic := &idleConn{Conn: c, timeout: l.timeout, owner: l, key: c.RemoteAddr().String()}
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
		return n, err
	}
}

func (c *idleConn) Close() error {
	c.closed.Do(func() { c.owner.forget(c) })
	return c.Conn.Close()
}

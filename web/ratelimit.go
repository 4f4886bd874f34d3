package web

import (
	"net"
	"sync"
	"time"
)

// Failed authentications are limited per client address. Each one writes
// an audit row committed with a full sync on the store's single writer,
// which the calls' consent rows also wait for: a client hammering the API
// without credentials must not slow those down. Within a window, the first
// failLimit failures are answered 401 and audited one by one; the next one
// is audited once as rate limited, and the rest of the window is answered
// 429 without a row each.
const (
	failLimit  = 10
	failWindow = time.Second
	// maxFailClients bounds the table; past it, windows are pruned.
	maxFailClients = 10000
)

// failLimiter counts failed authentications per client address.
type failLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	clients map[string]*failWindowCount
}

type failWindowCount struct {
	start time.Time
	n     int
}

func newFailLimiter(now func() time.Time) *failLimiter {
	if now == nil {
		now = time.Now
	}
	return &failLimiter{now: now, clients: map[string]*failWindowCount{}}
}

// failVerdict is what to do with one failed authentication.
type failVerdict int

const (
	failAudit       failVerdict = iota // answer 401, audit it
	failAuditLimit                     // the first over the limit: answer 429, audit it as rate limited
	failLimitSilent                    // answer 429, no row
)

// fail records a failed authentication from remote (host:port) and says
// how to answer it.
func (l *failLimiter) fail(remote string) failVerdict {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[host]
	if !ok || now.Sub(c.start) >= failWindow {
		if !ok && len(l.clients) >= maxFailClients {
			l.prune(now)
		}
		if !ok {
			c = &failWindowCount{}
			l.clients[host] = c
		}
		c.start, c.n = now, 0
	}
	c.n++
	switch {
	case c.n <= failLimit:
		return failAudit
	case c.n == failLimit+1:
		return failAuditLimit
	}
	return failLimitSilent
}

// prune drops the windows that are over; called with mu held.
func (l *failLimiter) prune(now time.Time) {
	for h, c := range l.clients {
		if now.Sub(c.start) >= failWindow {
			delete(l.clients, h)
		}
	}
}

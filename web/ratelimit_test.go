package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFailLimiter(t *testing.T) {
	now := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	l := newFailLimiter(func() time.Time { return now })
	want := func(remote string, v failVerdict) {
		t.Helper()
		if got := l.fail(remote); got != v {
			t.Fatalf("fail(%s) = %d, want %d", remote, got, v)
		}
	}
	for range failLimit {
		want("192.0.2.1:1000", failAudit)
	}
	want("192.0.2.1:1001", failAuditLimit) // another port, same client
	want("192.0.2.1:1002", failLimitSilent)
	want("198.51.100.7:5", failAudit) // other clients are not affected
	now = now.Add(failWindow)
	want("192.0.2.1:1000", failAudit) // a new window
	want("[2001:db8::1]:443", failAudit)
}

func TestFailLimiterPrunes(t *testing.T) {
	now := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	l := newFailLimiter(func() time.Time { return now })
	for i := range maxFailClients {
		l.fail("10.0." + itoa(i/256) + "." + itoa(i%256) + ":1")
	}
	now = now.Add(failWindow)
	l.fail("192.0.2.9:1")
	if n := len(l.clients); n != 1 {
		t.Errorf("%d clients kept after their windows ended, want 1", n)
	}
}

// A client failing authentication over and over gets 429 once past the
// limit, and the audit gets one row saying so instead of one per request.
func TestFailedAuthenticationsRateLimited(t *testing.T) {
	e := newRecEnv(t, nil)
	now := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	srv := New(Config{Recordings: e.svc, Logger: quiet})
	srv.fails = newFailLimiter(func() time.Time { return now })
	h := srv.Handler()
	before := e.auditCount(t)
	codes := map[int]int{}
	for range failLimit + 5 {
		codes[do(t, h, "GET", "/api/recordings", "", "Authorization", "Bearer nope").status]++
	}
	if codes[http.StatusUnauthorized] != failLimit || codes[http.StatusTooManyRequests] != 5 {
		t.Errorf("answers %v, want %d × 401 then 5 × 429", codes, failLimit)
	}
	if got := e.auditCount(t) - before; got != failLimit+1 {
		t.Errorf("%d audit rows, want %d (one per 401, one for the limit)", got, failLimit+1)
	}
	if a := e.lastAudit(t); a.Outcome != OutcomeUnauthenticated || !strings.Contains(a.Detail, "rate limited") {
		t.Errorf("last audit row %+v, want the rate limit noted", a)
	}
	now = now.Add(failWindow)
	if r := do(t, h, "GET", "/api/recordings", ""); r.status != http.StatusUnauthorized {
		t.Errorf("next window: status %d, want 401", r.status)
	}
}

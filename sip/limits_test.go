package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
)

// countingHandler counts the log records whose message starts with a prefix.
type countingHandler struct {
	slog.Handler
	mu     sync.Mutex
	counts map[string]int
}

func newCountingLogger(t *testing.T) (*slog.Logger, *countingHandler) {
	h := &countingHandler{Handler: testLogger(t).Handler(), counts: make(map[string]int)}
	return slog.New(h), h
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingWith{Handler: h.Handler.WithAttrs(as), root: h}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingWith{Handler: h.Handler.WithGroup(name), root: h}
}

func (h *countingHandler) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for msg, c := range h.counts {
		if strings.HasPrefix(msg, prefix) {
			n += c
		}
	}
	return n
}

type countingWith struct {
	slog.Handler
	root *countingHandler
}

func (h *countingWith) Handle(ctx context.Context, r slog.Record) error {
	h.root.mu.Lock()
	h.root.counts[r.Message]++
	h.root.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h *countingWith) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingWith{Handler: h.Handler.WithAttrs(as), root: h.root}
}

func (h *countingWith) WithGroup(name string) slog.Handler {
	return &countingWith{Handler: h.Handler.WithGroup(name), root: h.root}
}

// inviteFrom sends an INVITE with a PCMU offer from p and returns its
// final response (nil if none within timeout), acknowledging a refusal.
func inviteFrom(t *testing.T, p *peer, callID string, timeout time.Duration) *sipmsg.Response {
	t.Helper()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
	branch := fmt.Sprintf("z9hG4bK-lim-%d", rawSeq.Add(1))
	tp := strings.ToUpper(p.tp)
	p.send(fmt.Appendf(nil, "INVITE sip:800@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=%s\r\n"+
		"From: <sip:100@127.0.0.1>;tag=lim\r\nTo: <sip:800@127.0.0.1>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:100@%s;transport=%s>\r\nMax-Forwards: 70\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		p.srv, tp, p.addr(), branch, callID, p.addr(), p.tp, len(sdp), sdp))
	deadline := time.Now().Add(timeout)
	for {
		m, ok := p.next(time.Until(deadline))
		if !ok || m == nil {
			return nil
		}
		res, isRes := m.(*sipmsg.Response)
		if !isRes || res.StatusCode < 200 || res.CallID().Value() != callID {
			continue
		}
		if res.StatusCode >= 300 {
			p.send(fmt.Appendf(nil, "ACK sip:800@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s\r\n"+
				"From: <sip:100@127.0.0.1>;tag=lim\r\n%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"+
				"Content-Length: 0\r\n\r\n", p.srv, tp, p.addr(), branch, res.To().String(), callID))
		}
		return res
	}
}

// bye ends from p the call whose INVITE got res.
func bye(t *testing.T, p *peer, res *sipmsg.Response) {
	t.Helper()
	p.send(fmt.Appendf(nil, "BYE %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-limbye-%d\r\n"+
		"From: <sip:100@127.0.0.1>;tag=lim\r\n%s\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", res.Contact().Address.String(), strings.ToUpper(p.tp), p.addr(),
		rawSeq.Add(1), res.To().String(), res.CallID().Value()))
}

func retryAfterOf(t *testing.T, res *sipmsg.Response) string {
	t.Helper()
	h := res.GetHeader("Retry-After")
	if h == nil {
		t.Fatalf("%d without Retry-After:\n%s", res.StatusCode, res)
	}
	return h.Value()
}

// TestMaxCalls holds MaxCalls calls over UDP and TCP: the next INVITE gets
// 503 with Retry-After over either transport, logged once, and a call
// ending makes room for a new one.
func TestMaxCalls(t *testing.T) {
	log, logs := newCountingLogger(t)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if call.Answer(ctx) == nil {
			<-ctx.Done()
		}
	}, func(c *Config) {
		c.MaxCalls = 2
		c.Logger = log
		c.RetryAfter = 7 * time.Second
	})
	udp, tcp := dialPeer(t, s, "udp"), dialPeer(t, s, "tcp")
	first := inviteFrom(t, udp, "max-1", 3*time.Second)
	second := inviteFrom(t, tcp, "max-2", 3*time.Second)
	for _, res := range []*sipmsg.Response{first, second} {
		if res == nil || res.StatusCode != 200 {
			t.Fatalf("call under the limit: %v, want 200", res)
		}
	}
	udp.ack(first)
	tcp.ack(second)
	waitCalls(t, s, 2)

	for i, p := range []*peer{udp, tcp, udp} {
		res := inviteFrom(t, p, fmt.Sprintf("max-over-%d", i), 3*time.Second)
		if res == nil || res.StatusCode != 503 {
			t.Fatalf("INVITE over %s beyond MaxCalls: %v, want 503", p.tp, res)
		}
		if got := retryAfterOf(t, res); got != "7" {
			t.Errorf("Retry-After %q, want 7", got)
		}
	}
	if n := logs.count("call limit reached"); n != 1 {
		t.Errorf("call limit logged %d times, want once", n)
	}
	if got := s.ActiveCalls(); got != 2 {
		t.Errorf("ActiveCalls = %d, want 2", got)
	}

	// The UDP caller hangs up: room for one more.
	bye(t, udp, first)
	waitCalls(t, s, 1)
	third := inviteFrom(t, udp, "max-3", 3*time.Second)
	if third == nil || third.StatusCode != 200 {
		t.Fatalf("INVITE once a call ended: %v, want 200", third)
	}
	udp.ack(third)
	if n := logs.count("taking calls again"); n != 1 {
		t.Errorf("taking calls again logged %d times, want once", n)
	}
	bye(t, tcp, second)
	bye(t, udp, third)
	waitCalls(t, s, 0)
}

// waitCalls waits until the server holds n calls.
func waitCalls(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.ActiveCalls() != n {
		if time.Now().After(deadline) {
			t.Fatalf("ActiveCalls = %d, want %d", s.ActiveCalls(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFloodLimit sends INVITEs from one address, over UDP and TCP, past
// its burst: the one that empties the bucket gets 503 with the ban as
// Retry-After and the ban is logged once; during the ban UDP INVITEs from
// that address get nothing, TCP ones 503, its other requests are served,
// and other addresses are not limited; after the ban the address calls
// again.
func TestFloodLimit(t *testing.T) {
	log, logs := newCountingLogger(t)
	var mu sync.Mutex
	handled := 0
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		mu.Lock()
		handled++
		mu.Unlock()
	}, func(c *Config) {
		c.Logger = log
		c.Flood = FloodLimit{Rate: 0.5, Burst: 3, Ban: 2 * time.Second}
	})
	udp, tcp := dialPeer(t, s, "udp"), dialPeer(t, s, "tcp")
	for i := range 3 {
		p := udp
		if i == 1 {
			p = tcp // UDP and TCP draw from the address's one bucket
		}
		if res := inviteFrom(t, p, fmt.Sprintf("flood-%d", i), 3*time.Second); res == nil || res.StatusCode != 480 {
			t.Fatalf("INVITE %d within the burst: %v, want the handler's 480", i, res)
		}
	}
	res := inviteFrom(t, udp, "flood-over", 3*time.Second)
	if res == nil || res.StatusCode != 503 {
		t.Fatalf("INVITE past the burst: %v, want 503", res)
	}
	if got := retryAfterOf(t, res); got != "2" {
		t.Errorf("Retry-After %q, want the ban, 2", got)
	}
	banned := time.Now()

	// Banned: UDP INVITEs are dropped, TCP ones refused.
	if res := inviteFrom(t, udp, "flood-banned-udp", 500*time.Millisecond); res != nil {
		t.Errorf("UDP INVITE during the ban answered %d, want nothing", res.StatusCode)
	}
	if res := inviteFrom(t, tcp, "flood-banned-tcp", 3*time.Second); res == nil || res.StatusCode != 503 {
		t.Errorf("TCP INVITE during the ban: %v, want 503", res)
	} else if got := retryAfterOf(t, res); got != "1" && got != "2" {
		t.Errorf("Retry-After during the ban %q, want what is left of it", got)
	}
	// Its other requests, and other addresses, are served.
	if code := newRawClient(t, s).options(); code != 200 {
		t.Errorf("OPTIONS from the banned address = %d, want 200", code)
	}
	// 127.0.0.2 is loopback too on Linux: another source address.
	other := dialPeerAt(t, s, "udp", netip.MustParseAddr("127.0.0.2"))
	if res := inviteFrom(t, other, "flood-other", 3*time.Second); res == nil || res.StatusCode != 480 {
		t.Errorf("INVITE from another address: %v, want the handler's 480", res)
	}
	if n := logs.count("INVITE flood"); n != 1 {
		t.Errorf("ban logged %d times, want once", n)
	}

	// The ban ends: the bucket is full again.
	time.Sleep(time.Until(banned.Add(2*time.Second + 100*time.Millisecond)))
	for i := range 3 {
		if res := inviteFrom(t, udp, fmt.Sprintf("flood-after-%d", i), 3*time.Second); res == nil || res.StatusCode != 480 {
			t.Fatalf("INVITE %d after the ban: %v, want the handler's 480", i, res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if handled != 3+1+3 {
		t.Errorf("the handler got %d calls, want 7", handled)
	}
}

// TestFloodExempt: an exempt address is never limited, and a negative
// rate turns the limit off.
func TestFloodExempt(t *testing.T) {
	for name, limit := range map[string]FloodLimit{
		"exempt": {Burst: 2, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		"off":    {Rate: -1},
	} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, func(context.Context, ivr.Call) {}, func(c *Config) { c.Flood = limit })
			udp := dialPeer(t, s, "udp")
			for i := range 30 {
				if res := inviteFrom(t, udp, fmt.Sprintf("exempt-%s-%d", name, i), 3*time.Second); res == nil || res.StatusCode != 480 {
					t.Fatalf("INVITE %d: %v, want the handler's 480", i, res)
				}
			}
		})
	}
}

func TestLimitConfig(t *testing.T) {
	tests := []struct {
		limit FloodLimit
		field string
	}{
		{FloodLimit{Rate: -1, Burst: -5}, ""}, // off: nothing else matters
		{FloodLimit{}, ""},
		{FloodLimit{Burst: -1}, "Flood.Burst"},
		{FloodLimit{Ban: -time.Second}, "Flood.Ban"},
		{FloodLimit{Exempt: []netip.Prefix{{}}}, "Flood.Exempt"},
	}
	for _, tt := range tests {
		err := tt.limit.Validate()
		le, _ := err.(*LimitError)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%+v: %v", tt.limit, err)
		case tt.field != "" && (le == nil || le.Field != tt.field):
			t.Errorf("%+v: %v, want a LimitError on %s", tt.limit, err, tt.field)
		}
	}
	l := FloodLimit{}
	if err := l.check(); err != nil || l.Rate != DefaultFloodRate || l.Burst != DefaultFloodBurst || l.Ban != DefaultFloodBan {
		t.Errorf("defaults: %+v, %v", l, err)
	}
}

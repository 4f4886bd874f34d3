package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// sippUAS is sipp playing the trunk and the customer behind it: one call
// of a UAS scenario of testdata/sipp, on its own port of 127.0.0.1.
type sippUAS struct {
	dir    string
	addr   string
	out    *syncBuffer
	exited chan struct{}
	err    error
}

// syncBuffer collects a process's output for the test to read.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startSippUAS starts sipp on scenario over transport ("udp" or "tcp"),
// working in dir (where a scenario finds the files it names), and returns
// once it listens. subst are pairs of placeholders of the scenario and
// their values. The test's cleanup stops sipp if it still runs.
func startSippUAS(t *testing.T, dir, scenario, transport string, subst ...string) *sippUAS {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	if len(subst) > 0 {
		b, err := os.ReadFile(sf)
		if err != nil {
			t.Fatal(err)
		}
		sf = filepath.Join(dir, scenario)
		if err := os.WriteFile(sf, []byte(strings.NewReplacer(subst...).Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mode := "u1"
	if transport == "tcp" {
		mode = "t1"
	}
	port := freePort(t)
	args := []string{
		"-sf", sf,
		"-m", "1",
		"-t", mode,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(port),
		"-mi", "127.0.0.1",
		"-mp", strconv.Itoa(freeUDPPair(t)),
		"-timeout", "25s",
		"-timeout_error",
		"-nostdin",
		"-trace_msg",
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	u := &sippUAS{dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = u.out, u.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		u.err = cmd.Wait()
		close(u.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-u.exited
	})
	// sipp listens once the port can no longer be bound.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var l interface{ Close() error }
		var err error
		if transport == "tcp" {
			l, err = net.Listen("tcp", u.addr)
		} else {
			l, err = net.ListenPacket("udp", u.addr)
		}
		if err != nil {
			break
		}
		l.Close()
		select {
		case <-u.exited:
			t.Fatalf("sipp %s exited: %v\n%s", scenario, u.err, lastLines(u.out.String(), 40))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sipp %s does not listen", scenario)
		}
	}
	return u
}

// wait waits for sipp's call to end and fails the test unless sipp
// reports it successful.
func (u *sippUAS) wait(t *testing.T) {
	t.Helper()
	select {
	case <-u.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("sipp did not end")
	}
	if u.err != nil || testing.Verbose() {
		files, _ := filepath.Glob(filepath.Join(u.dir, "*_messages.log"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", filepath.Base(f), lastLines(string(b), 120))
		}
	}
	if u.err != nil {
		t.Fatalf("sipp: %v\n%s", u.err, lastLines(u.out.String(), 40))
	}
}

// startTrunkServer is startServer with the trunk at addr, once serving:
// a request the server answered tells its UDP listener is in sipgo's hands
// (an INVITE sent before would have no socket to leave from).
func startTrunkServer(t *testing.T, addr, transport string, more ...func(*Trunk)) *Server {
	t.Helper()
	s := startServer(t, func(context.Context, ivr.Call) { t.Error("inbound handler ran") }, withTrunk(addr, transport, more...))
	serving(t, s)
	return s
}

// serving waits until the server answers a request.
func serving(t *testing.T, s *Server) {
	t.Helper()
	if code := newRawClient(t, s).options(); code != 200 {
		t.Fatalf("server not serving: OPTIONS = %d", code)
	}
}

// withTrunk points the server's trunk at a sipp UAS.
func withTrunk(addr, transport string, more ...func(*Trunk)) func(*Config) {
	return func(c *Config) {
		c.Trunk = Trunk{Address: addr, Transport: transport, CallerID: "+33123456789"}
		for _, m := range more {
			m(&c.Trunk)
		}
	}
}

func callbackRequest(timeout time.Duration) ivr.OriginateRequest {
	return ivr.OriginateRequest{
		Number:     "+33612345678",
		Contact:    ivr.Contact{ID: "cb-7", Queue: "billing", Caller: "+33612345678"},
		Timeout:    timeout,
		CallbackID: "cb-7",
		Attempt:    2,
	}
}

// noServe is a serve that must not run.
func noServe(t *testing.T) func(context.Context, ivr.Call) {
	return func(context.Context, ivr.Call) { t.Error("serve ran for a call not answered") }
}

// TestOriginateAnswer: the trunk (sipp) checks the INVITE, rings and
// answers; serve runs with the customer's call, plays a 1 s prompt, gets
// key 1 by RFC 4733, and its context ends with ivr.ErrCallerHangup at the
// customer's BYE; Originate then returns nil, over UDP and TCP.
func TestOriginateAnswer(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			uas := startSippUAS(t, t.TempDir(), "uas_answer.xml", transport)
			s := startTrunkServer(t, uas.addr, transport)
			tone := writeTone(t, time.Second)
			var r callResult
			var active int
			err := s.Originate(context.Background(), callbackRequest(10*time.Second), func(ctx context.Context, c ivr.Call) {
				active = s.ActiveCalls()
				r.caller, r.dialled = c.Caller(), c.Dialled()
				if err := c.Answer(ctx); err != nil {
					r.err = fmt.Errorf("answer: %w", err)
					return
				}
				pb, err := c.Play(ctx, []ivr.Audio{{Path: tone, Text: "greeting"}})
				if err != nil {
					r.err = err
					return
				}
				select {
				case r.digit = <-c.DTMF():
				case <-ctx.Done():
					r.err = fmt.Errorf("no key before the end: %w", context.Cause(ctx))
					return
				}
				<-pb.Done()
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
					r.err = errors.New("the customer's BYE did not end the call")
					return
				}
				r.cause = context.Cause(ctx)
				r.stats = c.(*sipCall).sess.Stats()
			})
			if err != nil {
				t.Fatalf("Originate: %v", err)
			}
			uas.wait(t)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if active != 1 {
				t.Errorf("ActiveCalls during the call = %d, want 1", active)
			}
			if r.caller != "+33612345678" || r.dialled != "+33612345678" {
				t.Errorf("Caller %q Dialled %q, want the customer's number", r.caller, r.dialled)
			}
			if r.digit.Digit != '1' || r.digit.Via != media.ViaRFC4733 {
				t.Errorf("key %q via %q, want '1' via rfc4733", r.digit.Digit, r.digit.Via)
			}
			if !errors.Is(r.cause, ivr.ErrCallerHangup) {
				t.Errorf("cause = %v, want %v", r.cause, ivr.ErrCallerHangup)
			}
			if r.stats.PacketsSent < 45 || r.stats.PacketsReceived == 0 {
				t.Errorf("RTP sent %d (want about 50 for the prompt), received %d", r.stats.PacketsSent, r.stats.PacketsReceived)
			}
			waitIdle(t, s)
		})
	}
}

// TestOriginateRefused: the trunk's final refusals say why the customer
// was not reached, and serve never runs.
func TestOriginateRefused(t *testing.T) {
	tests := []struct {
		status, reason string
		want           error
	}{
		{"486", "Busy Here", ivr.ErrCalleeBusy},
		{"600", "Busy Everywhere", ivr.ErrCalleeBusy},
		{"480", "Temporarily Unavailable", ivr.ErrCalleeNoAnswer},
		{"603", "Decline", ivr.ErrCalleeRejected},
		{"404", "Not Found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			uas := startSippUAS(t, t.TempDir(), "uas_refuse.xml", "udp", "{status}", tt.status, "{reason}", tt.reason)
			s := startTrunkServer(t, uas.addr, "udp")
			err := s.Originate(context.Background(), callbackRequest(10*time.Second), noServe(t))
			uas.wait(t)
			switch {
			case err == nil:
				t.Fatalf("Originate = nil after %s", tt.status)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Originate = %v, want %v", err, tt.want)
			case tt.want == nil && (errors.Is(err, ivr.ErrCalleeBusy) || errors.Is(err, ivr.ErrCalleeNoAnswer) || errors.Is(err, ivr.ErrCalleeRejected)):
				t.Errorf("Originate = %v, want a plain failure", err)
			case !strings.Contains(err.Error(), tt.status):
				t.Errorf("Originate = %v, does not say %s", err, tt.status)
			}
			waitIdle(t, s)
		})
	}
}

// TestOriginateRingTimeout: nobody answers within the request's timeout:
// CANCEL (sipp waits for it), 487, and ivr.ErrCalleeNoAnswer.
func TestOriginateRingTimeout(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_ring.xml", "udp")
	s := startTrunkServer(t, uas.addr, "udp")
	start := time.Now()
	err := s.Originate(context.Background(), callbackRequest(600*time.Millisecond), noServe(t))
	if since := time.Since(start); since < 550*time.Millisecond {
		t.Errorf("Originate returned after %v, before the ring timeout", since)
	}
	if !errors.Is(err, ivr.ErrCalleeNoAnswer) {
		t.Errorf("Originate = %v, want %v", err, ivr.ErrCalleeNoAnswer)
	}
	uas.wait(t)
	waitIdle(t, s)
}

// TestOriginateTrunkRingTimeout: the trunk's RingTimeout bounds the
// ringing, whether the request gives a longer timeout or none.
func TestOriginateTrunkRingTimeout(t *testing.T) {
	for _, requested := range []time.Duration{0, 10 * time.Second} {
		t.Run(requested.String(), func(t *testing.T) {
			uas := startSippUAS(t, t.TempDir(), "uas_ring.xml", "udp")
			s := startTrunkServer(t, uas.addr, "udp", func(tr *Trunk) { tr.RingTimeout = 400 * time.Millisecond })
			start := time.Now()
			err := s.Originate(context.Background(), callbackRequest(requested), noServe(t))
			if !errors.Is(err, ivr.ErrCalleeNoAnswer) {
				t.Errorf("Originate = %v, want %v", err, ivr.ErrCalleeNoAnswer)
			}
			if since := time.Since(start); since > 3*time.Second {
				t.Errorf("Originate returned after %v, want about 400ms", since)
			}
			uas.wait(t)
			waitIdle(t, s)
		})
	}
}

// TestOriginateCancelled: the engine gives up while the phone rings (ctx
// cancelled): CANCEL, and Originate returns ctx's cause. The ringing call
// counts in ActiveCalls.
func TestOriginateCancelled(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_ring.xml", "udp")
	s := startTrunkServer(t, uas.addr, "udp")
	ctx, cancel := context.WithCancelCause(context.Background())
	why := errors.New("offer withdrawn")
	go func() {
		deadline := time.Now().Add(3 * time.Second)
		for s.ActiveCalls() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // the 180 is in
		cancel(why)
	}()
	err := s.Originate(ctx, callbackRequest(10*time.Second), noServe(t))
	if !errors.Is(err, why) {
		t.Errorf("Originate = %v, want %v", err, why)
	}
	if errors.Is(err, ivr.ErrCalleeNoAnswer) {
		t.Errorf("Originate = %v: the engine gave up, the customer did not fail to answer", err)
	}
	uas.wait(t)
	waitIdle(t, s)
}

// TestOriginateDigest: the trunk's 401 is answered once with the trunk's
// credentials (sipp checks the digest), the call is answered, and ivrd
// hangs up when serve returns.
func TestOriginateDigest(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_auth.xml", "udp")
	s := startTrunkServer(t, uas.addr, "udp", func(tr *Trunk) {
		tr.Credentials = Credentials{Username: "ivrd", Password: "s3cret"}
	})
	served := false
	err := s.Originate(context.Background(), callbackRequest(10*time.Second), func(ctx context.Context, c ivr.Call) {
		served = true
	})
	uas.wait(t)
	if err != nil {
		t.Fatalf("Originate: %v", err)
	}
	if !served {
		t.Error("serve did not run")
	}
	waitIdle(t, s)
}

// TestOriginateRefusedAtOnce: what cannot be called fails before anything
// is sent.
func TestOriginateRefusedAtOnce(t *testing.T) {
	s := startServer(t, noServe(t))
	serving(t, s)
	if err := s.Originate(context.Background(), callbackRequest(time.Second), noServe(t)); !errors.Is(err, ivr.ErrNoCallbacks) {
		t.Errorf("no trunk: Originate = %v, want %v", err, ivr.ErrNoCallbacks)
	}
	s = startServer(t, noServe(t), withTrunk("127.0.0.1:9", "udp"))
	serving(t, s)
	for _, number := range []string{"", "+", "06 12 34 56 78", "sip:alice@example.com", "12345;user=phone", "+33612345678@evil"} {
		r := callbackRequest(time.Second)
		r.Number = number
		if err := s.Originate(context.Background(), r, noServe(t)); !errors.Is(err, ErrBadNumber) {
			t.Errorf("Originate(%q) = %v, want %v", number, err, ErrBadNumber)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Originate(ctx, callbackRequest(time.Second), noServe(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: Originate = %v, want %v", err, context.Canceled)
	}
	s.Drain()
	if err := s.Originate(context.Background(), callbackRequest(time.Second), noServe(t)); !errors.Is(err, ivr.ErrShutdown) {
		t.Errorf("draining: Originate = %v, want %v", err, ivr.ErrShutdown)
	}
	if _, err := s.Dial(context.Background(), ivr.DialRequest{Offer: ivr.Offer{Phone: "sip:alice@127.0.0.1:9"}}); !errors.Is(err, ivr.ErrShutdown) {
		t.Errorf("draining: Dial = %v, want %v", err, ivr.ErrShutdown)
	}
	if n := s.ActiveCalls(); n != 0 {
		t.Errorf("ActiveCalls = %d", n)
	}
}

func TestTrunkValidate(t *testing.T) {
	tests := []struct {
		name  string
		trunk Trunk
		field string // "" for valid
	}{
		{"none", Trunk{}, ""},
		{"address", Trunk{Address: "192.0.2.1:5060"}, ""},
		{"name", Trunk{Address: "sbc.example.com:5061", Transport: "TLS", Domain: "operator.example", CallerID: "+33123456789",
			Credentials: Credentials{Username: "u", Password: "p"}, RingTimeout: time.Minute}, ""},
		{"ipv6", Trunk{Address: "[2001:db8::1]:5060", Domain: "[2001:db8::2]"}, ""},
		{"settings without address", Trunk{CallerID: "+33123456789"}, "Address"},
		{"no port", Trunk{Address: "192.0.2.1"}, "Address"},
		{"port 0", Trunk{Address: "192.0.2.1:0"}, "Address"},
		{"bad host", Trunk{Address: "bad host:5060"}, "Address"},
		{"transport", Trunk{Address: "192.0.2.1:5060", Transport: "sctp"}, "Transport"},
		{"half credentials", Trunk{Address: "192.0.2.1:5060", Credentials: Credentials{Username: "u"}}, "Credentials.Password"},
		{"password only", Trunk{Address: "192.0.2.1:5060", Credentials: Credentials{Password: "p"}}, "Credentials.Username"},
		{"caller id", Trunk{Address: "192.0.2.1:5060", CallerID: "Accueil"}, "CallerID"},
		{"domain with user", Trunk{Address: "192.0.2.1:5060", Domain: "u@operator.example"}, "Domain"},
		{"domain with port", Trunk{Address: "192.0.2.1:5060", Domain: "operator.example:5060"}, "Domain"},
		{"negative timeout", Trunk{Address: "192.0.2.1:5060", RingTimeout: -time.Second}, "RingTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.trunk.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var te *TrunkError
			if !errors.As(err, &te) || te.Field != tt.field {
				t.Fatalf("Validate = %v, want an error on %s", err, tt.field)
			}
		})
	}
	// The transport needs its listener.
	_, err := NewServer(Config{UDPAddr: "127.0.0.1:0", Media: &media.Endpoint{}, Handler: func(context.Context, ivr.Call) {},
		Trunk: Trunk{Address: "192.0.2.1:5060", Transport: "tcp"}})
	var te *TrunkError
	if !errors.As(err, &te) || te.Field != "Transport" {
		t.Errorf("NewServer with a tcp trunk and no TCPAddr = %v", err)
	}
}

// TestOriginateInDialog: the customer's in-dialog requests reach the call:
// a key by SIP INFO is delivered via "info", re-INVITEs for hold and
// unhold are answered recvonly then sendrecv (sipp checks), and ivrd's
// BYE ends the call when serve returns.
func TestOriginateInDialog(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_indialog.xml", "udp")
	s := startTrunkServer(t, uas.addr, "udp")
	var key ivr.DTMF
	err := s.Originate(context.Background(), callbackRequest(10*time.Second), func(ctx context.Context, c ivr.Call) {
		select {
		case key = <-c.DTMF():
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
			return
		}
		// The re-INVITEs follow at once; the BYE waits for them.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	})
	if err != nil {
		t.Fatalf("Originate: %v", err)
	}
	uas.wait(t)
	if key.Digit != '5' || key.Via != media.ViaInfo {
		t.Errorf("key %q via %q, want '5' via info", key.Digit, key.Via)
	}
	waitIdle(t, s)
}

// TestOriginateMediaTimeout: a customer who sends no RTP ends the call's
// context with ivr.ErrMediaTimeout, and ivrd's BYE says so.
func TestOriginateMediaTimeout(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_silent.xml", "udp", "{reason}", "media timeout")
	s := startServer(t, noServe(t), withTrunk(uas.addr, "udp"), func(c *Config) {
		base := mediaBase()
		ep, err := media.NewEndpoint(media.EndpointConfig{
			IP:           netip.MustParseAddr("127.0.0.1"),
			PortMin:      base,
			PortMax:      base + 98,
			MediaTimeout: 400 * time.Millisecond,
			Logger:       c.Logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		c.Media = ep
	})
	serving(t, s)
	var cause error
	err := s.Originate(context.Background(), callbackRequest(10*time.Second), func(ctx context.Context, c ivr.Call) {
		select {
		case <-ctx.Done():
			cause = context.Cause(ctx)
		case <-time.After(5 * time.Second):
		}
	})
	if err != nil {
		t.Fatalf("Originate: %v", err)
	}
	uas.wait(t)
	if !errors.Is(cause, ivr.ErrMediaTimeout) {
		t.Errorf("cause = %v, want %v", cause, ivr.ErrMediaTimeout)
	}
	waitIdle(t, s)
}

// TestOriginateShutdown: Close ends a customer's call in progress (cause
// ivr.ErrShutdown, BYE saying so) and waits for it.
func TestOriginateShutdown(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_silent.xml", "udp", "{reason}", ivr.ErrShutdown.Error())
	s := startTrunkServer(t, uas.addr, "udp")
	closed := make(chan error, 1)
	var cause error
	err := s.Originate(context.Background(), callbackRequest(10*time.Second), func(ctx context.Context, c ivr.Call) {
		go func() {
			closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			closed <- s.Close(closeCtx)
		}()
		select {
		case <-ctx.Done():
			cause = context.Cause(ctx)
		case <-time.After(5 * time.Second):
		}
	})
	if err != nil {
		t.Fatalf("Originate: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	uas.wait(t)
	if !errors.Is(cause, ivr.ErrShutdown) {
		t.Errorf("cause = %v, want %v", cause, ivr.ErrShutdown)
	}
}

// TestOriginateShutdownRinging: Close while the customer's phone rings
// cancels the INVITE, and Originate says why.
func TestOriginateShutdownRinging(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_ring.xml", "udp")
	s := startTrunkServer(t, uas.addr, "udp")
	closed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(3 * time.Second)
		for s.ActiveCalls() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // the 180 is in
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- s.Close(closeCtx)
	}()
	err := s.Originate(context.Background(), callbackRequest(10*time.Second), noServe(t))
	if !errors.Is(err, ivr.ErrShutdown) {
		t.Errorf("Originate = %v, want %v", err, ivr.ErrShutdown)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	uas.wait(t)
}

// TestServerDial: the server rings an agent's phone with no caller's call
// behind it: the INVITE is from the contact's caller, the phone's BYE ends
// the leg; Wait waits for such legs and Close cancels a ringing one.
func TestServerDial(t *testing.T) {
	p := newPhone(t)
	s := startServer(t, noServe(t))
	serving(t, s)
	r, err := s.Dial(context.Background(), ivr.DialRequest{Offer: ivr.Offer{ID: "o1", Agent: "alice", Phone: p.uri()},
		Contact: testContact(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	if f := inv.From(); f.Address.User != "+33612345678" {
		t.Errorf("From = %s", f.Value())
	}
	p.respond(inv, from, 200, "OK", p.sdp("sendrecv"))
	p.request(sipmsg.ACK, 3*time.Second)
	waitAnswered(t, r, 3*time.Second)
	if n := s.ActiveCalls(); n != 0 {
		t.Errorf("ActiveCalls = %d with only an agent's phone up, want 0", n)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Wait(short); err == nil {
		t.Error("Wait returned while the agent's phone was up")
	}
	inv.To().Params.Add("tag", p.tag)
	p.inDialog(inv, from, sipmsg.BYE, 1, nil)
	if res := p.response(1, 3*time.Second); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	waitDone(t, r, 3*time.Second)
	if err := r.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	waitIdle(t, s)

	// A ringing phone is cancelled by Close.
	r, err = s.Dial(context.Background(), ivr.DialRequest{Offer: ivr.Offer{ID: "o2", Agent: "alice", Phone: p.uri()},
		Contact: testContact(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	inv, from = p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 180, "Ringing", nil)
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- s.Close(ctx)
	}()
	cancelReq, cfrom := p.request(sipmsg.CANCEL, 3*time.Second)
	p.respond(cancelReq, cfrom, 200, "OK", nil)
	p.respond(inv, from, 487, "Request Terminated", nil)
	p.request(sipmsg.ACK, 3*time.Second)
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDone(t, r, time.Second)
	if err := r.Err(); !errors.Is(err, ivr.ErrShutdown) {
		t.Errorf("Err = %v, want %v", err, ivr.ErrShutdown)
	}
}

// TestOriginateBeforeServing: a callback placed as the server starts,
// before ListenAndServe hands the UDP listener to sipgo, waits for it
// rather than fail to bind the port a second time.
func TestOriginateBeforeServing(t *testing.T) {
	uas := startSippUAS(t, t.TempDir(), "uas_refuse.xml", "udp", "{status}", "486", "{reason}", "Busy Here")
	log := testLogger(t)
	base := mediaBase()
	ep, err := media.NewEndpoint(media.EndpointConfig{IP: netip.MustParseAddr("127.0.0.1"), PortMin: base, PortMax: base + 98, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	cfg := Config{UDPAddr: "127.0.0.1:0", Media: ep, Logger: log, Handler: noServe(t)}
	withTrunk(uas.addr, "udp")(&cfg)
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	originated := make(chan error, 1)
	go func() { originated <- s.Originate(context.Background(), callbackRequest(5*time.Second), noServe(t)) }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(ctx) }()
	if err := <-originated; !errors.Is(err, ivr.ErrCalleeBusy) {
		t.Errorf("Originate = %v, want %v", err, ivr.ErrCalleeBusy)
	}
	uas.wait(t)
	closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := s.Close(closeCtx); err != nil {
		t.Errorf("Close: %v", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
}

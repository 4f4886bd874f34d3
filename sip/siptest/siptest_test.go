package siptest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip"
	"github.com/ivrd/ivrd/sip/siptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rtpBase is the RTP port range of this package's servers, away from the
// ranges of package sip's tests, which may run at the same time.
const rtpBase = 47000

// startServer runs a sip.Server with a media endpoint on 127.0.0.1 until
// the test ends and returns its UDP address.
func startServer(t *testing.T, handler func(context.Context, ivr.Call)) netip.AddrPort {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ep, err := media.NewEndpoint(media.EndpointConfig{
		IP:      netip.MustParseAddr("127.0.0.1"),
		PortMin: rtpBase,
		PortMax: rtpBase + 98,
		Logger:  log,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sip.NewServer(sip.Config{
		UDPAddr: "127.0.0.1:0",
		Media:   ep,
		Logger:  log,
		Handler: handler,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := s.Close(closeCtx); err != nil {
			t.Errorf("close server: %v", err)
		}
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
		ep.Close()
	})
	return netip.MustParseAddrPort(s.Addr("udp").String())
}

// writeTone writes a WAV of a 440 Hz tone.
func writeTone(t *testing.T, d time.Duration) string {
	t.Helper()
	samples := make([]int16, int(d.Seconds()*8000))
	for i := range samples {
		samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, samples, 8000, 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newUA(t *testing.T, server netip.AddrPort) *siptest.UA {
	t.Helper()
	ua, err := siptest.NewUA(server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return ua
}

// TestCall places a call to a real server that plays a tone and waits for a
// key: the caller must hear the tone and its key must reach the handler.
func TestCall(t *testing.T) {
	tone := writeTone(t, 3*time.Second)
	keys := make(chan ivr.DTMF, 1)
	server := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			t.Errorf("answer: %v", err)
			return
		}
		if _, err := call.Play(ctx, []ivr.Audio{{Path: tone}}); err != nil {
			t.Errorf("play: %v", err)
			return
		}
		select {
		case k := <-call.DTMF():
			keys <- k
		case <-ctx.Done():
			return
		}
		<-ctx.Done() // the caller hangs up
	})
	ua := newUA(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "100", siptest.WithSilence())
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	defer c.Close()
	if c.Status() != 200 {
		t.Errorf("status %d, want 200", c.Status())
	}

	// Half a second of the tone: 25 PCMU frames of 160 bytes, in order.
	buf := make([]byte, 1500)
	if err := c.SetRTPDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var prev siptest.Packet
	for i := range 25 {
		p, err := c.ReadRTP(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.PayloadType != siptest.PayloadPCMU || len(p.Payload) != 160 {
			t.Fatalf("packet %d: payload type %d, %d bytes; want PCMU, 160", i, p.PayloadType, len(p.Payload))
		}
		if p.At.IsZero() || time.Since(p.At) > time.Second || time.Until(p.At) > time.Millisecond {
			t.Fatalf("packet %d: arrival time %v is not now", i, p.At)
		}
		if i > 0 && (p.SequenceNumber != prev.SequenceNumber+1 || p.At.Before(prev.At)) {
			t.Fatalf("packet %d: sequence %d at %v after %d at %v", i, p.SequenceNumber, p.At, prev.SequenceNumber, prev.At)
		}
		prev = p
	}
	if !c.KernelTimestamps() {
		t.Log("no kernel receive timestamps on this platform")
	}

	sent, err := c.SendDTMF(ctx, '5', 2)
	if err != nil {
		t.Fatalf("send dtmf: %v", err)
	}
	select {
	case k := <-keys:
		if k.Digit != '5' || k.Via != media.ViaRFC4733 {
			t.Errorf("key %q via %q, want '5' via %q", k.Digit, k.Via, media.ViaRFC4733)
		}
		if k.At.Before(sent) {
			t.Errorf("key seen at %v, before it was sent at %v", k.At, sent)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the key did not reach the handler")
	}
	if err := c.Bye(ctx); err != nil {
		t.Fatalf("bye: %v", err)
	}
}

// TestServerHangsUp: the server's BYE is answered and ends the call.
func TestServerHangsUp(t *testing.T) {
	server := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			t.Errorf("answer: %v", err)
			return
		}
		if err := call.Hangup(ctx, "done"); err != nil {
			t.Errorf("hangup: %v", err)
		}
	})
	ua := newUA(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "100")
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	defer c.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("no BYE from the server")
	}
	if err := c.Bye(ctx); err != nil {
		t.Errorf("bye after the server's: %v", err)
	}
}

// TestRejected: a call the handler hangs up before answering fails with the
// server's final status.
func TestRejected(t *testing.T) {
	server := startServer(t, func(ctx context.Context, call ivr.Call) {
		_ = call.Hangup(ctx, "closed")
	})
	ua := newUA(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "100")
	var serr *siptest.StatusError
	if !errors.As(err, &serr) || serr.Code != 480 {
		if c != nil {
			c.Close()
		}
		t.Fatalf("invite = %v, want a 480 StatusError", err)
	}
	// Let the server take the ACK before the test closes it: sipgo handles
	// a request read just before its stack closes by opening a socket of
	// its own, which would outlive the test.
	time.Sleep(50 * time.Millisecond)
}

// TestBadDigit: a key without telephone-event is refused before anything is sent.
func TestBadDigit(t *testing.T) {
	server := startServer(t, func(ctx context.Context, call ivr.Call) {
		_ = call.Answer(ctx)
		<-ctx.Done()
	})
	ua := newUA(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "100")
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	defer c.Close()
	if _, err := c.SendDTMF(ctx, 'x', 2); !errors.Is(err, siptest.ErrBadDigit) {
		t.Errorf("SendDTMF('x') = %v, want ErrBadDigit", err)
	}
	if err := c.Bye(ctx); err != nil {
		t.Errorf("bye: %v", err)
	}
}

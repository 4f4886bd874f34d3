package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// TestMediaTimeout: no RTP from the caller ends the call's context with
// ivr.ErrMediaTimeout and the driver sends BYE.
func TestMediaTimeout(t *testing.T) {
	causes := make(chan error, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			causes <- err
			return
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
	}, func(c *Config) {
		base := mediaBase()
		ep, err := media.NewEndpoint(media.EndpointConfig{
			IP:           netip.MustParseAddr("127.0.0.1"),
			PortMin:      base,
			PortMax:      base + 98,
			MediaTimeout: 300 * time.Millisecond,
			Logger:       c.Logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		c.Media = ep
	})
	c := newRawClient(t, s)
	branch := c.invite("timeout-1")
	res := c.final("timeout-1", 3*time.Second)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v", res)
	}
	c.ack(res, branch)
	select {
	case cause := <-causes:
		if !errors.Is(cause, ivr.ErrMediaTimeout) {
			t.Fatalf("cause = %v, want %v", cause, ivr.ErrMediaTimeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no media timeout")
	}
	bye := c.request(sipmsg.BYE, 5*time.Second)
	if bye == nil {
		t.Fatal("no BYE after media timeout")
	}
	c.respondOK(bye)
	waitIdle(t, s)
}

// TestInfo: application/dtmf INFO reaches the handler as a key; other
// bodies get 415.
func TestInfo(t *testing.T) {
	keys := make(chan ivr.DTMF, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			return
		}
		select {
		case k := <-call.DTMF():
			keys <- k
		case <-ctx.Done():
		}
		<-ctx.Done()
	})
	c := newRawClient(t, s)
	branch := c.invite("info-1")
	res := c.final("info-1", 3*time.Second)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v", res)
	}
	c.ack(res, branch)

	info := func(cseq int, ct, body string) int {
		c.send(fmt.Sprintf("INFO sip:800@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-info-%d;rport\r\n"+
			"From: <sip:100@127.0.0.1>;tag=raw\r\n%s\r\nCall-ID: info-1\r\nCSeq: %d INFO\r\nMax-Forwards: 70\r\n"+
			"Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
			c.srv, c.addr(), rawSeq.Add(1), res.To().String(), cseq, ct, len(body), body))
		if r := c.final("info-1", 2*time.Second); r != nil {
			return r.StatusCode
		}
		return 0
	}
	if code := info(2, "text/plain", "hello"); code != 415 {
		t.Fatalf("INFO text/plain = %d, want 415", code)
	}
	if code := info(3, "application/dtmf", "x"); code != 400 {
		t.Fatalf("INFO bad key = %d, want 400", code)
	}
	if code := info(4, "application/dtmf", "7"); code != 200 {
		t.Fatalf("INFO application/dtmf = %d, want 200", code)
	}
	select {
	case k := <-keys:
		if k.Digit != '7' || k.Via != "info" {
			t.Fatalf("key %q via %q, want '7' via info", k.Digit, k.Via)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("INFO key not delivered")
	}

	// Caller hangs up.
	c.send(fmt.Sprintf("BYE sip:800@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bye-%d;rport\r\n"+
		"From: <sip:100@127.0.0.1>;tag=raw\r\n%s\r\nCall-ID: info-1\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		c.srv, c.addr(), rawSeq.Add(1), res.To().String()))
	if r := c.final("info-1", 2*time.Second); r == nil || r.StatusCode != 200 {
		t.Fatalf("BYE: %v", r)
	}
	waitIdle(t, s)
}

// TestTCPIdleTimeout: a TCP connection that sends nothing is closed.
func TestTCPIdleTimeout(t *testing.T) {
	s := startServer(t, func(context.Context, ivr.Call) {}, func(c *Config) {
		c.TCPIdleTimeout = 200 * time.Millisecond
	})
	conn, err := net.Dial("tcp", s.Addr("tcp").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read = %v, want EOF from the server closing", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle connection closed after %v", d)
	}
}

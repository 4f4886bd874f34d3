package sip

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// freeUDPPair finds a free even UDP port whose odd neighbour is free too
// (sipp uses both for RTP and RTCP).
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port &^ 1
		a.Close()
		ok := true
		for _, q := range []int{p, p + 1} {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: q})
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free UDP port pair")
	return 0
}

// freePort finds a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}); err == nil {
			c.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// runSipp runs one call of a scenario of testdata/sipp against the server
// and fails the test if sipp reports a failed call.
func runSipp(t *testing.T, s *Server, scenario, transport string) {
	t.Helper()
	runSippIn(t, t.TempDir(), s, scenario, transport)
}

// runSippIn is runSipp with sipp working in dir, where a scenario finds
// the files it names by relative path.
func runSippIn(t *testing.T, dir string, s *Server, scenario, transport string) {
	t.Helper()
	network, mode := "udp", "u1"
	if transport == "tcp" {
		network, mode = "tcp", "t1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", sf,
		"-m", "1",
		"-t", mode,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t)),
		"-mi", "127.0.0.1",
		"-mp", strconv.Itoa(freeUDPPair(t)),
		"-s", "800",
		"-timeout", "20s",
		"-timeout_error",
		"-nostdin",
		s.Addr(network).String(),
	)
	cmd.Dir = dir // sipp may write logs in its working directory
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp %s over %s: %v\n%s", scenario, transport, err, lastLines(string(out), 40))
	}
}

// lastLines keeps the end of sipp's screen dump, where the errors are.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type sipCall = call

// callResult is what a test handler saw of its call.
type callResult struct {
	caller, dialled string
	digit           ivr.DTMF
	stats           media.SessionStats
	cause           error
	err             error
}

// TestSippDTMF: answer, play a 1 s tone, wait for an RFC 4733 key, hang up.
func TestSippDTMF(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			tone := writeTone(t, time.Second)
			results := make(chan callResult, 1)
			s := startServer(t, playAndWaitKey(tone, results))
			runSipp(t, s, "uac_dtmf.xml", transport)
			r := <-results
			checkKeyCall(t, r, '1', media.ViaRFC4733)
			waitIdle(t, s)
		})
	}
}

// TestSippLateOffer: INVITE without SDP, offer in the 200, answer in the ACK.
func TestSippLateOffer(t *testing.T) {
	tone := writeTone(t, time.Second)
	results := make(chan callResult, 1)
	s := startServer(t, playAndWaitKey(tone, results))
	runSipp(t, s, "uac_late_offer.xml", "udp")
	r := <-results
	checkKeyCall(t, r, '1', media.ViaRFC4733)
	waitIdle(t, s)
}

// TestSippInfoDTMF: a key by SIP INFO application/dtmf-relay.
func TestSippInfoDTMF(t *testing.T) {
	tone := writeTone(t, 200*time.Millisecond)
	results := make(chan callResult, 1)
	s := startServer(t, playAndWaitKey(tone, results))
	runSipp(t, s, "uac_info.xml", "udp")
	r := <-results
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.digit.Digit != '5' || r.digit.Via != "info" {
		t.Fatalf("key = %q via %q, want '5' via info", r.digit.Digit, r.digit.Via)
	}
	waitIdle(t, s)
}

// TestSippNoCommonCodec: only G.729 offered, 488 with Warning.
func TestSippNoCommonCodec(t *testing.T) {
	called := make(chan struct{}, 1)
	s := startServer(t, func(context.Context, ivr.Call) { called <- struct{}{} })
	runSipp(t, s, "uac_g729.xml", "udp")
	select {
	case <-called:
		t.Fatal("handler ran for an offer without a common codec")
	default:
	}
	waitIdle(t, s)
}

// TestSippCancel: CANCEL before the answer ends the handler's context with
// ivr.ErrCallerHangup and the INVITE gets 487.
func TestSippCancel(t *testing.T) {
	causes := make(chan error, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		// Ring until the caller gives up.
		select {
		case <-ctx.Done():
			causes <- context.Cause(ctx)
			if err := call.Answer(ctx); err == nil {
				t.Error("Answer after CANCEL succeeded")
			}
		case <-time.After(10 * time.Second):
			causes <- errors.New("no CANCEL seen")
		}
	})
	runSipp(t, s, "uac_cancel.xml", "udp")
	if cause := <-causes; !errors.Is(cause, ivr.ErrCallerHangup) {
		t.Fatalf("cause = %v, want %v", cause, ivr.ErrCallerHangup)
	}
	waitIdle(t, s)
}

// TestSippHoldAndBye: re-INVITEs for hold (sendonly -> recvonly) and
// unhold, then BYE from the caller ends the context with
// ivr.ErrCallerHangup.
func TestSippHoldAndBye(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			causes := make(chan error, 1)
			s := startServer(t, func(ctx context.Context, call ivr.Call) {
				if err := call.Answer(ctx); err != nil {
					causes <- err
					return
				}
				<-ctx.Done()
				causes <- context.Cause(ctx)
			})
			runSipp(t, s, "uac_bye.xml", transport)
			if cause := <-causes; !errors.Is(cause, ivr.ErrCallerHangup) {
				t.Fatalf("cause = %v, want %v", cause, ivr.ErrCallerHangup)
			}
			waitIdle(t, s)
		})
	}
}

// playAndWaitKey is a handler that answers, plays the tone to its end and
// waits for one key, then returns (the server hangs up).
func playAndWaitKey(tone string, results chan<- callResult) func(context.Context, ivr.Call) {
	return func(ctx context.Context, c ivr.Call) {
		call := c
		r := callResult{caller: call.Caller(), dialled: call.Dialled()}
		defer func() {
			r.stats = c.(*sipCall).sess.Stats()
			r.cause = context.Cause(ctx)
			results <- r
		}()
		if err := call.Answer(ctx); err != nil {
			r.err = err
			return
		}
		pb, err := call.Play(ctx, []ivr.Audio{{Path: tone, Text: "tone"}})
		if err != nil {
			r.err = err
			return
		}
		select {
		case r.digit = <-call.DTMF():
		case <-ctx.Done():
			r.err = context.Cause(ctx)
			return
		case <-time.After(10 * time.Second):
			r.err = errors.New("no key within 10 s")
			return
		}
		select {
		case <-pb.Done():
		case <-ctx.Done():
			r.err = context.Cause(ctx)
		}
	}
}

func checkKeyCall(t *testing.T, r callResult, digit rune, via string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("handler: %v", r.err)
	}
	if r.caller != "5551234" || r.dialled != "800" {
		t.Errorf("caller %q dialled %q, want 5551234 and 800", r.caller, r.dialled)
	}
	if r.digit.Digit != digit || r.digit.Via != via {
		t.Errorf("key = %q via %q, want %q via %q", r.digit.Digit, r.digit.Via, digit, via)
	}
	// 1 s of tone is 50 packets of 20 ms.
	if r.stats.PacketsSent < 45 {
		t.Errorf("sent %d RTP packets, want about 50", r.stats.PacketsSent)
	}
	if r.stats.PacketsReceived == 0 {
		t.Errorf("received no RTP from sipp")
	}
}

package sip

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
)

// Tones of the two sides of the conversation, on 50 Hz bins.
const (
	callerTone = 400.0
	agentTone  = 1000.0
)

// TestBaresipAgent: a caller's call rings baresip, a real softphone
// answering by itself as the agent's phone (over UDP, then TCP), and is
// bridged to it. Audio flows both ways for over 3 s: the caller hears the
// agent's tone, the agent's phone records the caller's; the caller's
// hang-up ends the bridge and hangs up the agent.
func TestBaresipAgent(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) { testBaresipAgent(t, transport) })
	}
}

func testBaresipAgent(t *testing.T, transport string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	phone, err := siptest.StartBaresip(ctx, siptest.BaresipConfig{Dir: t.TempDir(), Tone: agentTone})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		phone.Close()
		if t.Failed() {
			t.Logf("baresip output:\n%s", phone.Output())
		}
	}()

	type outcome struct {
		err   error
		stats media.SessionStats
	}
	bridged := make(chan outcome, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			bridged <- outcome{err: err}
			return
		}
		r, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{
			Offer:   ivr.Offer{ID: "o1", Agent: "alice", Phone: phone.URI() + ";transport=" + transport},
			Contact: testContact(),
			Timeout: 10 * time.Second,
		})
		if err != nil {
			bridged <- outcome{err: err}
			return
		}
		select {
		case <-r.Answered():
		case <-r.Done():
			bridged <- outcome{err: r.Err()}
			return
		}
		err = call.(ivr.Bridger).Bridge(ctx, r)
		leg := r.(*agentLeg)
		if herr := r.Hangup(context.Background(), "caller hung up"); herr != nil {
			t.Errorf("hang up agent: %v", herr)
		}
		bridged <- outcome{err: err, stats: leg.sess.Stats()}
	})

	ua, err := siptest.NewUA(netip.MustParseAddrPort(s.Addr("udp").String()))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	c, err := ua.Invite(ctx, "100", siptest.WithTone(callerTone))
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	defer c.Close()

	// The caller hears the agent once baresip answered: read 3.5 s of it.
	var heard []int16
	packets := 0
	buf := make([]byte, 1500)
	start := time.Now()
	if err := c.SetRTPDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for len(heard) < 3500*8 {
		p, err := c.ReadRTP(buf)
		if err != nil {
			t.Fatalf("caller: %d packets after %v: %v", packets, time.Since(start), err)
		}
		packets++
		pcm := make([]int16, len(p.Payload))
		media.DecodeUlaw(pcm, p.Payload)
		heard = append(heard, pcm...)
	}
	if err := c.Bye(ctx); err != nil {
		t.Fatalf("bye: %v", err)
	}
	var out outcome
	select {
	case out = <-bridged:
	case <-ctx.Done():
		t.Fatal("bridge did not end")
	}
	if !errors.Is(out.err, ivr.ErrCallerHangup) {
		t.Errorf("Bridge = %v, want %v", out.err, ivr.ErrCallerHangup)
	}
	waitIdle(t, s)
	phone.Close()

	share := siptest.ToneShare(heard, agentTone)
	t.Logf("caller: %d packets, %.1f s, %.0f Hz share %.2f, level %.0f", packets, float64(len(heard))/8000, agentTone, share, siptest.Level(heard))
	if share < 0.8 {
		t.Errorf("the caller did not hear the agent's %v Hz tone (share %.2f)", agentTone, share)
	}
	if out.stats.PacketsReceived < 150 {
		t.Errorf("agent leg received %d RTP packets from baresip, want >= 150", out.stats.PacketsReceived)
	}
	calls, err := phone.Received()
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 {
		t.Fatalf("baresip recorded %d calls, want 1", len(calls))
	}
	got := calls[0]
	// The first moments may precede the bridge; judge the last 3 s.
	if len(got) < 3*8000 {
		t.Fatalf("baresip recorded %.2f s, want >= 3 s", float64(len(got))/8000)
	}
	tail := got[len(got)-3*8000:]
	share = siptest.ToneShare(tail, callerTone)
	t.Logf("agent: %.1f s recorded, %.0f Hz share %.2f over the last 3 s, level %.0f", float64(len(got))/8000, callerTone, share, siptest.Level(tail))
	if share < 0.8 {
		t.Errorf("the agent did not hear the caller's %v Hz tone (share %.2f)", callerTone, share)
	}
}

package sip

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
)

// TestOriginateBridgesAgent is an agent-first callback as the engine runs
// it, with real peers: the server rings the agent's phone (baresip
// answering by itself, sending its tone) with no caller's call behind it
// (Server.Dial), then calls the customer through the trunk (sipp
// answering and talking: a looped tone), records the customer's call and
// bridges it to the agent's leg. Audio flows both ways for 3 s: RTP is
// counted on both legs, the recording has the customer on the left and
// the agent on the right, baresip heard the customer. The agent hanging
// up ends Bridge with nil, and the customer is hung up as serve returns.
func TestOriginateBridgesAgent(t *testing.T) {
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
	dir := t.TempDir()
	writeUlawTone(t, filepath.Join(dir, "customer.ul"), callerTone, 10*time.Second)
	uas := startSippUAS(t, dir, "uas_talk.xml", "udp")
	s := startTrunkServer(t, uas.addr, "udp")

	// The agent takes the request first: the server rings the phone.
	r, err := s.Dial(ctx, ivr.DialRequest{
		Offer:   ivr.Offer{ID: "o1", Agent: "alice", Phone: phone.URI()},
		Contact: ivr.Contact{ID: "cb-7", Queue: "billing", Caller: "+33612345678", Channel: "callback"},
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("Server.Dial: %v", err)
	}
	waitAnswered(t, r, 10*time.Second)
	leg := r.(*agentLeg)

	// Then the customer is called and bridged to the agent.
	sink := &frameSink{}
	var (
		bridgeErr error
		stats     media.SessionStats
		serveErr  error
	)
	err = s.Originate(ctx, callbackRequest(10*time.Second), func(ctx context.Context, c ivr.Call) {
		rec, err := c.(ivr.Recordable).Record(ctx, sink)
		if err != nil {
			serveErr = err
			return
		}
		hangup := time.AfterFunc(3500*time.Millisecond, func() {
			if err := r.Hangup(context.Background(), "agent done"); err != nil {
				t.Errorf("hang up agent: %v", err)
			}
		})
		defer hangup.Stop()
		bridgeErr = c.(ivr.Bridger).Bridge(ctx, r)
		if err := rec.Stop(context.Background()); err != nil {
			serveErr = err
		}
		stats = c.(*sipCall).sess.Stats()
	})
	if err != nil {
		t.Fatalf("Originate: %v", err)
	}
	uas.wait(t)
	if serveErr != nil {
		t.Fatal(serveErr)
	}
	if bridgeErr != nil {
		t.Errorf("Bridge = %v, want nil (the agent hung up)", bridgeErr)
	}
	waitDone(t, r, 5*time.Second)
	waitIdle(t, s)
	agent := leg.sess.Stats()
	t.Logf("customer leg: sent %d received %d; agent leg: sent %d received %d",
		stats.PacketsSent, stats.PacketsReceived, agent.PacketsSent, agent.PacketsReceived)
	// 3.5 s of conversation is 175 packets of 20 ms each way.
	for name, n := range map[string]uint64{
		"to the customer": stats.PacketsSent, "from the customer": stats.PacketsReceived,
		"to the agent": agent.PacketsSent, "from the agent": agent.PacketsReceived,
	} {
		if n < 150 {
			t.Errorf("RTP %s: %d packets, want >= 150", name, n)
		}
	}

	// The recording: the customer left, the agent right (the first moments
	// may precede the relay; judge the last 2.5 s).
	sink.mu.Lock()
	left, right := sink.caller, sink.other
	sink.mu.Unlock()
	if len(left) < 3*8000 {
		t.Fatalf("recorded %.2f s, want >= 3 s", float64(len(left))/8000)
	}
	tail := func(x []int16) []int16 { return x[len(x)-2500*8:] }
	if share := siptest.ToneShare(tail(left), callerTone); share < 0.8 {
		t.Errorf("recording, left: %v Hz share %.2f, want the customer", callerTone, share)
	}
	if share := siptest.ToneShare(tail(right), agentTone); share < 0.8 {
		t.Errorf("recording, right: %v Hz share %.2f, want the agent", agentTone, share)
	}

	phone.Close()
	calls, err := phone.Received()
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || len(calls[0]) < 3*8000 {
		t.Fatalf("baresip recorded %d calls, want one of >= 3 s", len(calls))
	}
	if share := siptest.ToneShare(tail(calls[0]), callerTone); share < 0.8 {
		t.Errorf("the agent did not hear the customer's %v Hz tone (share %.2f)", callerTone, share)
	}
}

// writeUlawTone writes a raw μ-law tone, as sipp's rtp_stream plays it.
func writeUlawTone(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	pcm := make([]int16, int(d.Seconds()*8000))
	for i := range pcm {
		pcm[i] = int16(7500 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	ulaw := make([]byte, len(pcm))
	media.EncodeUlaw(ulaw, pcm)
	if err := os.WriteFile(path, ulaw, 0o644); err != nil {
		t.Fatal(err)
	}
}

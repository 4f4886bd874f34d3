package e2e

import (
	"context"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
)

const (
	// serviceBargeIn is the number of the flow whose menu prompt is a
	// continuous tone (testdata/flows/bargein.yaml).
	serviceBargeIn = "3950"
	// maxBargeIn is the longest the prompt may keep flowing after the
	// first RFC 4733 packet of a key left the caller: one 20 ms frame
	// already sent, one in flight, and scheduling slack.
	maxBargeIn = 40 * time.Millisecond
	// promptBeforeKey is how much of the prompt the caller hears before
	// pressing the key.
	promptBeforeKey = 500 * time.Millisecond
	// quietAfterStop is how long no prompt packet may arrive for the
	// prompt to count as stopped.
	quietAfterStop = 200 * time.Millisecond
)

// TestBargeInLatency measures, on the wire, how long ivrd's prompt keeps
// flowing after the caller's first RFC 4733 packet: from sending that packet
// to the arrival of the last prompt packet. It runs alone (not parallel) so
// that other calls do not compete for the CPU.
func TestBargeInLatency(t *testing.T) {
	p := startIvrd(t, ivrdOptions{})
	const trials = 5
	figures := make([]time.Duration, 0, trials)
	for i := range trials {
		d, after := bargeInTrial(t, p, i+1)
		figures = append(figures, d)
		t.Logf("barge-in trial %d: last prompt packet arrived %+.1f ms from the first RFC 4733 packet (negative: before it); %d prompt packet(s) after the key",
			i+1, ms(d), after)
	}
	sorted := slices.Clone(figures)
	slices.Sort(sorted)
	t.Logf("barge-in over %d trials: min %.1f ms, median %.1f ms, max %.1f ms (limit %v)",
		trials, ms(sorted[0]), ms(sorted[len(sorted)/2]), ms(sorted[len(sorted)-1]), maxBargeIn)
	for i, d := range figures {
		if d > maxBargeIn {
			t.Errorf("barge-in trial %d: prompt flowed %.1f ms after the key, want <= %v", i+1, ms(d), maxBargeIn)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bargeInTrial makes one call, presses 1 half a second into the prompt and
// returns when the last prompt packet arrived relative to the key, and how
// many prompt packets arrived after the key.
func bargeInTrial(t *testing.T, p *ivrdProc, trial int) (time.Duration, int) {
	t.Helper()
	c := dialRaw(t, p, serviceBargeIn)

	var first siptest.Packet
	if !waitFor(3*time.Second, func() bool {
		for _, pkt := range c.packets() {
			if pkt.PayloadType == siptest.PayloadPCMU {
				first = pkt
				return true
			}
		}
		return false
	}) {
		t.Fatalf("trial %d: no PCMU packet from ivrd within 3s of the answer", trial)
	}
	// Spread the key over the 20 ms between two prompt packets from one
	// trial to the next, so the figures cover every phase of the pacing.
	phase := time.Duration(trial-1) * 4 * time.Millisecond
	time.Sleep(time.Until(first.At.Add(promptBeforeKey + phase)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sent, err := c.SendDTMF(ctx, '1', 2)
	if err != nil {
		t.Fatalf("trial %d: %v", trial, err)
	}

	var last siptest.Packet
	deadline := sent.Add(2 * time.Second)
	for {
		prompt := promptPackets(c.packets())
		last = prompt[len(prompt)-1]
		now := time.Now()
		if now.Sub(last.At) >= quietAfterStop && now.Sub(sent) >= quietAfterStop {
			break
		}
		if now.After(deadline) {
			t.Fatalf("trial %d: the prompt still plays 2s after the key", trial)
		}
		time.Sleep(10 * time.Millisecond)
	}

	prompt := promptPackets(c.packets())
	checkTalkspurt(t, trial, prompt)
	after := 0
	for _, pkt := range prompt {
		if pkt.At.After(sent) {
			after++
		}
	}
	if n := len(prompt); n >= 4*50 {
		t.Errorf("trial %d: %d prompt packets: the 4 s tone played to its end", trial, n)
	}

	rec := p.waitCall(t, c.CallID(), 5*time.Second, func(r *ivr.CallRecord) bool {
		_, ok := visit(r, "wait")
		return ok
	})
	checkVisit(t, rec, "menu", ivr.KindMenu, "key 1")
	if err := c.Bye(ctx); err != nil {
		t.Fatalf("trial %d: %v", trial, err)
	}
	p.waitCall(t, c.CallID(), 5*time.Second, ended)
	return last.At.Sub(sent), after
}

// promptPackets returns the audio packets of the call (the menu's tone; the
// queue after it has no hold prompt, so nothing else is played).
func promptPackets(all []siptest.Packet) []siptest.Packet {
	var out []siptest.Packet
	for _, pkt := range all {
		if pkt.PayloadType == siptest.PayloadPCMU {
			out = append(out, pkt)
		}
	}
	return out
}

// checkTalkspurt checks the RTP of the interrupted prompt: one talkspurt of
// the tone, marker bit on its first packet only, sequence numbers +1 and
// timestamps +160 (20 ms of 8 kHz) from packet to packet, one SSRC.
func checkTalkspurt(t *testing.T, trial int, pkts []siptest.Packet) {
	t.Helper()
	if len(pkts) < 10 {
		t.Errorf("trial %d: only %d prompt packets", trial, len(pkts))
		return
	}
	if !pkts[0].Marker {
		t.Errorf("trial %d: first prompt packet has no marker bit", trial)
	}
	samples := make([]int16, 160)
	for i, pkt := range pkts {
		if len(pkt.Payload) != 160 {
			t.Errorf("trial %d: packet %d: %d bytes of payload, want 160", trial, i, len(pkt.Payload))
			return
		}
		if i < len(pkts)-1 {
			media.DecodeUlaw(samples, pkt.Payload)
			if rms(samples) < 1000 {
				t.Errorf("trial %d: packet %d of the tone is silent (rms %.0f)", trial, i, rms(samples))
			}
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1]
		switch {
		case pkt.SSRC != prev.SSRC:
			t.Errorf("trial %d: packet %d: SSRC %08x after %08x", trial, i, pkt.SSRC, prev.SSRC)
		case pkt.SequenceNumber != prev.SequenceNumber+1:
			t.Errorf("trial %d: packet %d: sequence %d after %d, want +1", trial, i, pkt.SequenceNumber, prev.SequenceNumber)
		case pkt.Timestamp != prev.Timestamp+160:
			t.Errorf("trial %d: packet %d: timestamp %d after %d, want +160", trial, i, pkt.Timestamp, prev.Timestamp)
		case pkt.Marker:
			t.Errorf("trial %d: packet %d: marker bit inside the talkspurt", trial, i)
		default:
			continue
		}
		return
	}
}

// rms is the root mean square of samples.
func rms(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// rawCall is a call placed with package siptest, whose every byte and timing
// on the wire is under the test's control. It sends silence like a phone
// whose user says nothing and records every packet ivrd sends, with its
// arrival time.
type rawCall struct {
	*siptest.Call
	wg       sync.WaitGroup
	mu       sync.Mutex
	received []siptest.Packet
}

// dialRaw calls service on ivrd and returns once the call is answered and
// acknowledged, with its RTP running. The call is closed when the test ends.
func dialRaw(t testing.TB, p *ivrdProc, service string) *rawCall {
	t.Helper()
	server, err := net.ResolveUDPAddr("udp", p.sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	ua, err := siptest.NewUA(server.AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := ua.Invite(ctx, service, siptest.WithUser("rawcaller"), siptest.WithSilence())
	if err != nil {
		ua.Close()
		t.Fatalf("call %s: %v", service, err)
	}
	c := &rawCall{Call: call}
	t.Cleanup(func() {
		c.Close()
		c.wg.Wait()
		ua.Close()
	})
	c.wg.Add(1)
	go c.record()
	return c
}

// record keeps every RTP packet from ivrd until the call is closed.
func (c *rawCall) record() {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		pkt, err := c.ReadRTP(buf)
		if err != nil {
			return // closed
		}
		pkt.Payload = append([]byte(nil), pkt.Payload...)
		c.mu.Lock()
		c.received = append(c.received, pkt)
		c.mu.Unlock()
	}
}

// packets returns a copy of the packets received so far.
func (c *rawCall) packets() []siptest.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.received)
}

package e2e

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
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

	var first rtpPacket
	if !waitFor(3*time.Second, func() bool {
		for _, pkt := range c.packets() {
			if pkt.pt == 0 {
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
	time.Sleep(time.Until(first.at.Add(promptBeforeKey + phase)))
	sent := c.pressRFC4733(1, 2)

	var last rtpPacket
	deadline := sent.Add(2 * time.Second)
	for {
		prompt := promptPackets(c.packets())
		last = prompt[len(prompt)-1]
		now := time.Now()
		if now.Sub(last.at) >= quietAfterStop && now.Sub(sent) >= quietAfterStop {
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
		if pkt.at.After(sent) {
			after++
		}
	}
	if n := len(prompt); n >= 4*50 {
		t.Errorf("trial %d: %d prompt packets: the 4 s tone played to its end", trial, n)
	}

	rec := p.waitCall(t, c.callID, 5*time.Second, func(r *ivr.CallRecord) bool {
		_, ok := visit(r, "wait")
		return ok
	})
	checkVisit(t, rec, "menu", ivr.KindMenu, "key 1")
	c.hangup()
	p.waitCall(t, c.callID, 5*time.Second, ended)
	return last.at.Sub(sent), after
}

// promptPackets returns the audio packets of the call (the menu's tone; the
// queue after it has no hold prompt, so nothing else is played).
func promptPackets(all []rtpPacket) []rtpPacket {
	var out []rtpPacket
	for _, pkt := range all {
		if pkt.pt == 0 {
			out = append(out, pkt)
		}
	}
	return out
}

// checkTalkspurt checks the RTP of the interrupted prompt: one talkspurt of
// the tone, marker bit on its first packet only, sequence numbers +1 and
// timestamps +160 (20 ms of 8 kHz) from packet to packet, one SSRC.
func checkTalkspurt(t *testing.T, trial int, pkts []rtpPacket) {
	t.Helper()
	if len(pkts) < 10 {
		t.Errorf("trial %d: only %d prompt packets", trial, len(pkts))
		return
	}
	if !pkts[0].marker {
		t.Errorf("trial %d: first prompt packet has no marker bit", trial)
	}
	samples := make([]int16, 160)
	for i, pkt := range pkts {
		if len(pkt.payload) != 160 {
			t.Errorf("trial %d: packet %d: %d bytes of payload, want 160", trial, i, len(pkt.payload))
			return
		}
		if i < len(pkts)-1 {
			media.DecodeUlaw(samples, pkt.payload)
			if rms(samples) < 1000 {
				t.Errorf("trial %d: packet %d of the tone is silent (rms %.0f)", trial, i, rms(samples))
			}
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1]
		switch {
		case pkt.ssrc != prev.ssrc:
			t.Errorf("trial %d: packet %d: SSRC %08x after %08x", trial, i, pkt.ssrc, prev.ssrc)
		case pkt.seq != prev.seq+1:
			t.Errorf("trial %d: packet %d: sequence %d after %d, want +1", trial, i, pkt.seq, prev.seq)
		case pkt.ts != prev.ts+160:
			t.Errorf("trial %d: packet %d: timestamp %d after %d, want +160", trial, i, pkt.ts, prev.ts)
		case pkt.marker:
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

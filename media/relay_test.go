package media

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// sendRTP sends one RTP packet from the peer's socket to dst.
func (p *testPeer) sendRTP(dst netip.AddrPort, h RTPHeader, payload []byte) {
	p.t.Helper()
	buf := make([]byte, RTPHeaderSize, RTPHeaderSize+len(payload))
	h.MarshalTo(buf)
	buf = append(buf, payload...)
	if _, err := p.conn.WriteToUDPAddrPort(buf, dst); err != nil {
		p.t.Fatal(err)
	}
}

// bridgedPair is a caller's session and an agent's session, each with its
// far end a plain UDP socket, bridged.
type bridgedPair struct {
	caller, agent         *Session
	callerPeer, agentPeer *testPeer
	relay                 *Relay
}

func newBridgedPair(t *testing.T, e *Endpoint, callerCodec, agentCodec Codec, callerDTMF, agentDTMF uint8) *bridgedPair {
	t.Helper()
	bp := &bridgedPair{callerPeer: newTestPeer(t), agentPeer: newTestPeer(t)}
	bp.caller = startSessionDTMF(t, e, bp.callerPeer, callerCodec, callerDTMF)
	bp.agent = startSessionDTMF(t, e, bp.agentPeer, agentCodec, agentDTMF)
	r, err := Bridge(bp.caller, bp.agent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	bp.relay = r
	return bp
}

func startSessionDTMF(t testing.TB, e *Endpoint, peer *testPeer, codec Codec, dtmfPT uint8) *Session {
	t.Helper()
	s, err := e.NewSession(quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Start(peer.addr(), codec, dtmfPT); err != nil {
		t.Fatal(err)
	}
	return s
}

// ulawFrame is a frame of μ-law with every code, shifted by j.
func ulawFrame(j int) []byte {
	b := make([]byte, samplesPerFrame)
	for i := range b {
		b[i] = byte(i*7 + j)
	}
	return b
}

// checkPaced checks that pkts, packets of one RTP stream in the order they
// were received, are a session's paced stream: one SSRC, consecutive
// sequence numbers, and for the audio (payload type pt) timestamps on the
// 8 kHz tick clock (steps of whole frames) with the marker bit exactly on
// the first frame, on each frame after a gap, and on the first frame of
// each new source (indexes in starts). It returns the gaps.
func checkPaced(t *testing.T, pkts []rxPacket, pt uint8, starts ...int) (gaps int) {
	t.Helper()
	var prev *rxPacket
	for i := range pkts {
		pk := &pkts[i]
		if i > 0 {
			if pk.h.SSRC != pkts[0].h.SSRC {
				t.Errorf("packet %d: ssrc %x, want %x", i, pk.h.SSRC, pkts[0].h.SSRC)
			}
			if pk.h.SequenceNumber != pkts[i-1].h.SequenceNumber+1 {
				t.Errorf("packet %d: seq %d after %d", i, pk.h.SequenceNumber, pkts[i-1].h.SequenceNumber)
			}
		}
		if pk.h.PayloadType != pt {
			continue
		}
		if len(pk.payload) != samplesPerFrame {
			t.Errorf("packet %d: %d samples, want a frame", i, len(pk.payload))
		}
		if prev == nil {
			if !pk.h.Marker {
				t.Errorf("packet %d: the first frame has no marker", i)
			}
			prev = pk
			continue
		}
		step := pk.h.Timestamp - prev.h.Timestamp
		if step == 0 || step%samplesPerFrame != 0 || step > 100*samplesPerFrame {
			t.Errorf("packet %d: timestamp step %d, want whole frames", i, step)
		}
		gap := step != samplesPerFrame
		if gap {
			gaps++
		}
		if want := gap || slices.Contains(starts, i); pk.h.Marker != want {
			t.Errorf("packet %d: marker %v after a step of %d (a new source: %v)", i, pk.h.Marker, step, slices.Contains(starts, i))
		}
		prev = pk
	}
	return gaps
}

// Audio goes both ways, payloads untouched between legs of one law and
// converted byte for byte between μ-law and A-law, re-paced into the
// destination's stream: its SSRC, its sequence continuing after the prompt
// it played before, timestamps on its tick clock after the prompt's.
func TestRelayAudio(t *testing.T) {
	tests := []struct {
		name          string
		caller, agent Codec
	}{
		{"pcmu-pcmu", CodecPCMU, CodecPCMU},
		{"pcma-pcma", CodecPCMA, CodecPCMA},
		{"pcmu-pcma", CodecPCMU, CodecPCMA},
		{"pcma-pcmu", CodecPCMA, CodecPCMU},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(t, 0)
			callerPeer, agentPeer := newTestPeer(t), newTestPeer(t)
			caller := startSessionDTMF(t, e, callerPeer, tt.caller, 101)
			agent := startSessionDTMF(t, e, agentPeer, tt.agent, 101)

			// Each session plays two frames first: the relay carries on
			// their streams.
			before := map[*Session]rxPacket{}
			for s, peer := range map[*Session]*testPeer{caller: callerPeer, agent: agentPeer} {
				waitDone(t, s.Play([]Clip{{Samples: ramp(2 * samplesPerFrame)}}).Done(), time.Second, "prompt")
				got := peer.readAll(60 * time.Millisecond)
				if len(got) != 2 {
					t.Fatalf("prompt: %d packets", len(got))
				}
				before[s] = got[1]
			}

			r, err := Bridge(caller, agent)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Stop()
			if !caller.Bridged() || !agent.Bridged() {
				t.Fatal("sessions do not report bridged")
			}

			const n = 20
			type dir struct {
				from, to   *testPeer
				src, dst   *Session
				srcC, dstC Codec
				ssrc       uint32
				seq0       uint16
				ts0        uint32
			}
			dirs := []dir{
				{callerPeer, agentPeer, caller, agent, tt.caller, tt.agent, 0x1111, 65530, 4294967000},
				{agentPeer, callerPeer, agent, caller, tt.agent, tt.caller, 0x2222, 100, 5000},
			}
			for _, d := range dirs {
				for j := range n {
					h := RTPHeader{PayloadType: d.srcC.PayloadType, SequenceNumber: d.seq0 + uint16(j), Timestamp: d.ts0 + uint32(j*samplesPerFrame), SSRC: d.ssrc, Marker: j == 0}
					d.from.sendRTP(d.src.LocalAddr(), h, ulawFrame(j))
					time.Sleep(frameDuration) // no catch-up bursts beyond what the queue holds
				}
				got := d.to.readAll(100 * time.Millisecond)
				if len(got) != n {
					t.Fatalf("%d packets relayed, want %d: %+v", len(got), n, r.Stats())
				}
				prev := before[d.dst]
				checkPaced(t, append([]rxPacket{prev}, got...)[1:], d.dstC.PayloadType)
				table, _ := transcodeTable(d.srcC, d.dstC)
				for j, pk := range got {
					want := ulawFrame(j)
					if table != nil {
						transcode(table, want)
					}
					if !slices.Equal(pk.payload, want) {
						t.Errorf("packet %d: payload not the source's (converted: %v)", j, table != nil)
					}
					if pk.h.PayloadType != d.dstC.PayloadType || pk.h.SSRC != prev.h.SSRC {
						t.Errorf("packet %d: pt %d ssrc %x, want %d %x", j, pk.h.PayloadType, pk.h.SSRC, d.dstC.PayloadType, prev.h.SSRC)
					}
					if pk.h.SequenceNumber != prev.h.SequenceNumber+1+uint16(j) {
						t.Errorf("packet %d: seq %d, want %d", j, pk.h.SequenceNumber, prev.h.SequenceNumber+1+uint16(j))
					}
				}
				// After the prompt's last frame, on the same tick clock:
				// whole frames on, not more than the time since then.
				step := got[0].h.Timestamp - prev.h.Timestamp
				elapsed := uint32(got[0].at.Sub(prev.at)/time.Millisecond)*8 + 2*samplesPerFrame
				if step < samplesPerFrame || step%samplesPerFrame != 0 || step > elapsed {
					t.Errorf("first relayed timestamp %d after the prompt's, want whole frames up to %d", step, elapsed)
				}
			}
			st := r.Stats()
			for _, d := range []RelayDirectionStats{st.AToB, st.BToA} {
				wantConv := uint64(0)
				if tt.caller != tt.agent {
					wantConv = n
				}
				if d.Packets != n || d.Bytes != n*samplesPerFrame || d.Transcoded != wantConv || d.Dropped != 0 || d.Overflows != 0 {
					t.Errorf("stats %+v", d)
				}
			}
		})
	}
}

// Telephone events go out at once, ahead of the audio still queued, with
// the destination's event payload type, the destination's sequence
// numbers and one timestamp per event on its tick clock; they still reach
// the session's DTMF channel; a destination without telephone-event gets
// none. Audio from a new SSRC carries on in the same paced stream.
func TestRelayEvents(t *testing.T) {
	tests := []struct {
		name      string
		agentDTMF uint8
	}{
		{"relayed as 96", 96},
		{"agent without telephone-event", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(t, 0)
			bp := newBridgedPair(t, e, CodecPCMU, CodecPCMU, 101, tt.agentDTMF)
			// The agent's pacer leaves the audio queued until the key
			// has gone through.
			bp.agent.pacer.remove(bp.agent)
			dst := bp.caller.LocalAddr()
			bp.callerPeer.sendRTP(dst, RTPHeader{PayloadType: 0, SequenceNumber: 10, Timestamp: 8000, SSRC: 0xabcdef}, ulawFrame(0))
			var seq uint16 = 11
			// The key's packets: a start, 3 updates, 3 ends, on 8160.
			bp.callerPeer.sendKey(dst, 101, &seq, 8160, 7, false)
			bp.callerPeer.sendRTP(dst, RTPHeader{PayloadType: 0, SequenceNumber: seq, Timestamp: 8160 + 1120, SSRC: 6}, ulawFrame(1))

			select {
			case ev := <-bp.caller.DTMF():
				if ev.Digit != '7' {
					t.Errorf("caller's session got %q", ev.Digit)
				}
			case <-time.After(time.Second):
				t.Fatal("the caller's key did not reach its session while bridged")
			}
			events := bp.agentPeer.readAll(100 * time.Millisecond)
			bp.agent.pacer.add(bp.agent)
			audio := bp.agentPeer.readAll(100 * time.Millisecond)
			for _, pk := range events {
				if pk.h.PayloadType != 96 {
					t.Errorf("payload type %d relayed before the agent's pacer ran", pk.h.PayloadType)
				}
			}
			for _, pk := range audio {
				if pk.h.PayloadType != 0 {
					t.Errorf("payload type %d relayed on the pacer", pk.h.PayloadType)
				}
			}
			st := bp.relay.Stats().AToB
			if tt.agentDTMF == 0 {
				if len(events) != 0 || len(audio) != 2 || st.Dropped != 7 || st.Events != 0 {
					t.Fatalf("%d events, %d audio relayed, stats %+v", len(events), len(audio), st)
				}
				return
			}
			if len(events) != 7 || len(audio) != 2 || st.Events != 7 || st.Packets != 9 {
				t.Fatalf("%d events, %d audio relayed, stats %+v", len(events), len(audio), st)
			}
			checkPaced(t, append(events, audio...), 0)
			if !slices.Equal(audio[0].payload, ulawFrame(0)) || !slices.Equal(audio[1].payload, ulawFrame(1)) {
				t.Error("audio payloads changed")
			}
			for i, ev := range events {
				// The event starts at the frame due when it came, on the
				// audio's tick clock, before the audio it overtook.
				if d := audio[0].h.Timestamp - ev.h.Timestamp; d == 0 || d%samplesPerFrame != 0 || d > 20*samplesPerFrame {
					t.Errorf("event packet %d: timestamp %d before the first relayed frame's, want whole frames", i, int32(d))
				}
				if ev.h.Timestamp != events[0].h.Timestamp {
					t.Errorf("event packet %d: timestamp %d, want the event's %d", i, ev.h.Timestamp, events[0].h.Timestamp)
				}
				if !slices.Equal(ev.payload[:1], []byte{7}) {
					t.Errorf("event packet %d: payload %x", i, ev.payload)
				}
				if ev.h.Marker { // as the source sent them
					t.Errorf("event packet %d: marker", i)
				}
			}
		})
	}
}

// While bridged the agent's session sends none of its prompt; the prompt
// runs on the clock and ends on time, and what is left of it after the
// relay stops is played in the same stream, on the same tick clock.
func TestRelayMutesPrompt(t *testing.T) {
	e := newTestEndpoint(t, 0)
	callerPeer, agentPeer := newTestPeer(t), newTestPeer(t)
	caller := startSessionDTMF(t, e, callerPeer, CodecPCMU, 101)
	agent := startSessionDTMF(t, e, agentPeer, CodecPCMU, 101)
	long := agent.Play([]Clip{{Samples: ramp(50 * samplesPerFrame)}}) // 1 s
	time.Sleep(100 * time.Millisecond)

	r, err := Bridge(caller, agent)
	if err != nil {
		t.Fatal(err)
	}
	// A Play while bridged ends on time, unheard.
	short := agent.Play([]Clip{{Samples: ramp(5 * samplesPerFrame)}})
	for j := range 15 {
		callerPeer.sendRTP(caller.LocalAddr(), RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * samplesPerFrame), SSRC: 9}, ulawFrame(j))
		time.Sleep(frameDuration) // no catch-up bursts beyond what the queue holds
	}
	time.Sleep(3 * frameDuration) // the queue empties
	r.Stop()
	r.Stop() // idempotent
	waitDone(t, r.Done(), 10*time.Millisecond, "relay")
	if caller.Bridged() || agent.Bridged() {
		t.Error("sessions still bridged after Stop")
	}
	got := agentPeer.readAll(1500 * time.Millisecond)
	waitDone(t, long.Done(), 10*time.Millisecond, "long prompt")
	waitDone(t, short.Done(), 10*time.Millisecond, "short prompt")

	// The prompt's first 5 frames or so, the 15 relayed frames, then the
	// prompt's rest: never interleaved.
	phase := 0 // 0 prompt, 1 relay, 2 prompt again
	relayed, after := 0, 0
	for i, pk := range got {
		isRelay := relayed < 15 && slices.Equal(pk.payload, ulawFrame(relayed))
		switch {
		case phase == 0 && isRelay:
			phase = 1
			relayed++
			if !pk.h.Marker {
				t.Error("the first relayed frame has no marker")
			}
		case phase == 1 && isRelay:
			relayed++
		case phase == 1:
			phase = 2
			after++
			if !pk.h.Marker {
				t.Error("the prompt's first packet after the relay has no marker")
			}
		case phase == 2 && isRelay:
			t.Fatalf("packet %d: relayed audio after the prompt resumed", i)
		case phase == 2:
			after++
		}
		if i > 0 {
			if pk.h.SequenceNumber != got[i-1].h.SequenceNumber+1 {
				t.Errorf("packet %d: seq %d after %d", i, pk.h.SequenceNumber, got[i-1].h.SequenceNumber)
			}
			if d := pk.h.Timestamp - got[i-1].h.Timestamp; d == 0 || d%samplesPerFrame != 0 || d > 50*samplesPerFrame {
				t.Errorf("packet %d: timestamp step %d", i, d)
			}
			if pk.h.SSRC != got[0].h.SSRC {
				t.Errorf("packet %d: ssrc changed", i)
			}
		}
	}
	if relayed != 15 {
		t.Errorf("%d relayed packets in order, want 15", relayed)
	}
	// 50 frames of prompt, about 18 of them muted while bridged.
	if promptSent := len(got) - relayed; promptSent < 22 || promptSent > 45 || after == 0 {
		t.Errorf("%d prompt packets sent (%d after the relay), want about 32", promptSent, after)
	}
}

// Only the negotiated peer is relayed (RTP bleed); a payload type the
// source did not negotiate is not relayed either.
func TestRelaySourceRules(t *testing.T) {
	e := newTestEndpoint(t, 0)
	bp := newBridgedPair(t, e, CodecPCMU, CodecPCMU, 101, 101)
	stranger := newTestPeer(t)
	dst := bp.caller.LocalAddr()
	stranger.sendRTP(dst, RTPHeader{PayloadType: 0, SequenceNumber: 1, SSRC: 3}, ulawFrame(0))
	bp.callerPeer.sendRTP(dst, RTPHeader{PayloadType: 8, SequenceNumber: 1, SSRC: 3}, ulawFrame(0))  // PCMA: not negotiated
	bp.callerPeer.sendRTP(dst, RTPHeader{PayloadType: 13, SequenceNumber: 2, SSRC: 3}, ulawFrame(0)) // comfort noise
	bp.callerPeer.sendRTP(dst, RTPHeader{PayloadType: 0, SequenceNumber: 3, SSRC: 3}, ulawFrame(0))
	got := bp.agentPeer.readAll(100 * time.Millisecond)
	if len(got) != 1 || got[0].h.PayloadType != 0 {
		t.Fatalf("%d packets relayed, want the PCMU one", len(got))
	}
	if st := bp.relay.Stats().AToB; st.Dropped != 2 || st.Packets != 1 {
		t.Errorf("stats %+v", st)
	}
	if st := bp.caller.Stats(); st.PacketsDropped != 1 {
		t.Errorf("caller session dropped %d packets from strangers, want 1", st.PacketsDropped)
	}
}

// A relay ends with either session (Close, media timeout) and stops
// relaying at once; Stop after that returns at once.
func TestRelayEndsWithPort(t *testing.T) {
	tests := []struct {
		name string
		end  func(bp *bridgedPair)
		want error
	}{
		{"caller closed", func(bp *bridgedPair) { bp.caller.Close() }, ErrClosed},
		{"agent closed", func(bp *bridgedPair) { bp.agent.Close() }, ErrClosed},
		{"agent media timeout", func(bp *bridgedPair) {
			// The caller keeps talking; the agent's side sends nothing.
			for j := range 20 {
				bp.callerPeer.sendRTP(bp.caller.LocalAddr(), RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), SSRC: 4}, ulawFrame(j))
				time.Sleep(frameDuration)
			}
		}, ErrMediaTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(t, 300*time.Millisecond)
			bp := newBridgedPair(t, e, CodecPCMU, CodecPCMU, 101, 101)
			tt.end(bp)
			waitDone(t, bp.relay.Done(), time.Second, "relay")
			var ended *Session
			for _, s := range []*Session{bp.caller, bp.agent} {
				if s.Err() != nil {
					ended = s
				}
			}
			if ended == nil || !errors.Is(ended.Err(), tt.want) {
				t.Fatalf("no session ended with %v", tt.want)
			}
			bp.relay.Stop()
			if bp.caller.Bridged() || bp.agent.Bridged() {
				t.Error("a session still reports bridged")
			}
			// The survivor can be bridged again.
			survivor := bp.caller
			if survivor == ended {
				survivor = bp.agent
			}
			if survivor.Err() == nil {
				other := startSessionDTMF(t, e, newTestPeer(t), CodecPCMU, 101)
				r, err := Bridge(survivor, other)
				if err != nil {
					t.Fatalf("bridge the survivor again: %v", err)
				}
				r.Stop()
			}
		})
	}
}

// After Stop returns, nothing more is relayed: the audio still queued is
// dropped, and packets the caller's peer sends later go nowhere.
func TestRelayStop(t *testing.T) {
	e := newTestEndpoint(t, 0)
	bp := newBridgedPair(t, e, CodecPCMU, CodecPCMU, 101, 101)
	for j := range 20 {
		if j == 10 {
			bp.relay.Stop()
		}
		bp.callerPeer.sendRTP(bp.caller.LocalAddr(), RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * 160), SSRC: 4}, ulawFrame(j))
		time.Sleep(frameDuration) // no catch-up bursts beyond what the queue holds
	}
	got := bp.agentPeer.readAll(100 * time.Millisecond)
	st := bp.relay.Stats().AToB
	if len(got) == 0 || uint64(len(got)) != st.Packets || len(got) > 10 {
		t.Errorf("%d packets relayed, stats %d, want those relayed before Stop (at most 10)", len(got), st.Packets)
	}
	for i, pk := range got {
		if !slices.Equal(pk.payload, ulawFrame(i)) {
			t.Errorf("packet %d: not the caller's frame %d", i, i)
		}
	}
}

func TestBridgeErrors(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	a := startSessionDTMF(t, e, peer, CodecPCMU, 101)
	b := startSessionDTMF(t, e, newTestPeer(t), CodecPCMU, 101)
	c := startSessionDTMF(t, e, newTestPeer(t), CodecPCMU, 101)
	unstarted, err := e.NewSession(quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer unstarted.Close()
	closed := startSessionDTMF(t, e, newTestPeer(t), CodecPCMU, 101)
	closed.Close()

	r, err := Bridge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	tests := []struct {
		name string
		a, b Port
		want error
	}{
		{"same port", c, c, ErrSamePort},
		{"first bridged", a, c, ErrBridged},
		{"second bridged", c, b, ErrBridged},
		{"not started", c, unstarted, ErrNotStarted},
		{"closed", closed, c, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Bridge(tt.a, tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("Bridge: %v, want %v", err, tt.want)
			}
			if tt.a != Port(a) && c.Bridged() {
				t.Error("a failed bridge left c bridged")
			}
		})
	}
	if _, err := Bridge(nil, c); err == nil {
		t.Error("Bridge with a nil port succeeded")
	}
}

func TestTranscodeTables(t *testing.T) {
	// A-law has no zero: its silence is ±8.
	if ulawToAlaw[ulawSilence] != alawSilence || abs(int(ulawDecode(alawToUlaw[alawSilence]))) > 8 {
		t.Error("silence does not map to silence")
	}
	for i := range 256 {
		for _, c := range []struct {
			name string
			from func(byte) int16
			to   func(byte) int16
			code byte
		}{
			{"μ→A", ulawDecode, alawDecode, ulawToAlaw[i]},
			{"A→μ", alawDecode, ulawDecode, alawToUlaw[i]},
		} {
			in, out := int(c.from(byte(i))), int(c.to(c.code))
			// Within the coarser law's step at that level (1/16 of the
			// segment, and at least 16 near zero).
			if d := abs(in - out); d > max(16, abs(in)/16+8) {
				t.Errorf("%s %#02x: %d became %d", c.name, i, in, out)
			}
		}
	}
	if _, ok := transcodeTable(CodecPCMU, Codec{Name: "G729"}); ok {
		t.Error("a table for G.729")
	}
}

// sendTone sends frames of a tone at freq in codec from the peer to dst
// every 20 ms on an absolute schedule, until stop is closed.
func (p *testPeer) sendTone(dst netip.AddrPort, codec Codec, freq float64, ssrc uint32, stop <-chan struct{}) {
	enc, _, _, _ := codec.funcs()
	payload := make([]byte, samplesPerFrame)
	start := time.Now()
	for j := 0; ; j++ {
		pcm := tone(freq, sampleRate, (j+1)*samplesPerFrame, 8000)[j*samplesPerFrame:]
		enc(payload, pcm)
		p.sendRTP(dst, RTPHeader{PayloadType: codec.PayloadType, SequenceNumber: uint16(j), Timestamp: uint32(j * samplesPerFrame), SSRC: ssrc}, payload)
		select {
		case <-stop:
			return
		case <-time.After(time.Until(start.Add(time.Duration(j+1) * frameDuration))):
		}
	}
}

// dominant returns which of freqs is strongest in frame, or 0 when the
// frame is silent.
func dominant(frame []int16, freqs ...float64) float64 {
	best, bestLevel := 0.0, 500.0
	for _, f := range freqs {
		if l := goertzel(frame, f); l > bestLevel {
			best, bestLevel = f, l
		}
	}
	return best
}

// goertzel returns the amplitude of freq in x.
func goertzel(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / sampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return 2 * math.Sqrt(s1*s1+s2*s2-c*s1*s2) / float64(len(x))
}

// A recording of the caller's session keeps the caller on the left and,
// on the right, the prompt the caller heard, then what the relay sent the
// caller (the agent), then the prompt again after the relay; it lasts the
// wall time. Two real UDP peers send a 600 Hz (caller) and a 1 kHz (agent)
// tone; the prompts are 400 Hz.
func TestRecordWhileBridged(t *testing.T) {
	for _, agentCodec := range []Codec{CodecPCMU, CodecPCMA} {
		t.Run(agentCodec.Name, func(t *testing.T) {
			e := newTestEndpoint(t, 0)
			callerPeer, agentPeer := newTestPeer(t), newTestPeer(t)
			caller := startSessionDTMF(t, e, callerPeer, CodecPCMU, 101)
			agent := startSessionDTMF(t, e, agentPeer, agentCodec, 101)

			stopTones := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { callerPeer.sendTone(caller.LocalAddr(), CodecPCMU, 600, 1, stopTones) })
			wg.Go(func() { agentPeer.sendTone(agent.LocalAddr(), agentCodec, 1000, 2, stopTones) })
			defer func() {
				select {
				case <-stopTones:
				default:
					close(stopTones)
				}
				wg.Wait()
			}()
			time.Sleep(60 * time.Millisecond)

			sink := &memSink{}
			began := time.Now()
			rec, err := caller.Record(sink)
			if err != nil {
				t.Fatal(err)
			}
			prompt := tone(400, sampleRate, 15*samplesPerFrame, 8000)
			waitDone(t, caller.Play([]Clip{{Samples: prompt}}).Done(), time.Second, "prompt before")
			r, err := Bridge(caller, agent)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			r.Stop()
			waitDone(t, caller.Play([]Clip{{Samples: prompt}}).Done(), time.Second, "prompt after")
			stop(t, rec)
			wall := time.Since(began)
			close(stopTones)
			wg.Wait()

			checkDuration(t, sink.duration(), wall)
			left, right := sink.frames()
			var leftSeq, rightSeq []float64
			for i := range left {
				l := dominant(left[i], 400, 600, 1000)
				r := dominant(right[i], 400, 600, 1000)
				if l != 0 && l != 600 {
					t.Errorf("frame %d: %v Hz on the left", i, l)
				}
				if n := len(rightSeq); r != 0 && (n == 0 || rightSeq[n-1] != r) {
					rightSeq = append(rightSeq, r)
				}
				if l == 600 {
					leftSeq = append(leftSeq, l)
				}
			}
			if !slices.Equal(rightSeq, []float64{400, 1000, 400}) {
				t.Errorf("right channel: %v Hz in turn, want the prompt (400), the agent (1000), the prompt", rightSeq)
			}
			if n := len(leftSeq); n < len(left)-5 {
				t.Errorf("caller's tone in %d frames of %d", n, len(left))
			}
			var agentFrames int
			for i := range right {
				if dominant(right[i], 400, 600, 1000) == 1000 {
					agentFrames++
				}
			}
			if agentFrames < 45 || agentFrames > 51 {
				t.Errorf("agent heard in %d frames, want about 50 (1 s)", agentFrames)
			}
			// Whole-recording energy: each tone on its own side only.
			l, rr := slices.Concat(left...), slices.Concat(right...)
			if a, b := goertzel(l, 600), goertzel(l, 1000); a < 4000 || b > 100 {
				t.Errorf("left: 600 Hz at %.0f, 1 kHz at %.0f", a, b)
			}
			if a, b := goertzel(rr, 1000), goertzel(rr, 600); a < 1000 || b > 100 {
				t.Errorf("right: 1 kHz at %.0f, 600 Hz at %.0f", a, b)
			}
			if st := rec.Stats(); st.RelayLate > 5 {
				t.Errorf("%d bridged ticks without relayed audio", st.RelayLate)
			}
		})
	}
}

// Any datagram from the caller's peer is either queued as audio (its
// payload, the newest samples if it is longer than the queue holds), sent
// at once as a valid RTP packet of the agent's stream with the same payload
// (a telephone event), or not relayed at all; what the agent's pacer then
// sends is a valid frame of the agent's stream; nothing panics.
func FuzzRelay(f *testing.F) {
	e := newTestEndpoint(f, 0)
	callerPeer, agentPeer := newTestPeer(f), newTestPeer(f)
	caller := startSessionDTMF(f, e, callerPeer, CodecPCMU, 101)
	agent := startSessionDTMF(f, e, agentPeer, CodecPCMA, 96)
	r, err := Bridge(caller, agent)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(r.Stop)
	// This goroutine runs the agent's ticks.
	agent.pacer.remove(agent)
	in := &r.ab
	from := callerPeer.addr()
	// The caller's session reads nothing: this goroutine feeds it.
	seed := func(h RTPHeader, payload []byte, extra func([]byte) []byte) []byte {
		b := make([]byte, RTPHeaderSize)
		h.MarshalTo(b)
		if extra != nil {
			b = extra(b)
		}
		return append(b, payload...)
	}
	f.Add(seed(RTPHeader{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 1}, ulawFrame(0), nil))
	f.Add(seed(RTPHeader{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 1}, slices.Repeat(ulawFrame(3), 7), nil))
	f.Add(seed(RTPHeader{PayloadType: 101, SequenceNumber: 2, Timestamp: 320, SSRC: 1}, AppendDTMFPayload(nil, 1, false, 10, 160), nil))
	f.Add(seed(RTPHeader{PayloadType: 0, SequenceNumber: 3, SSRC: 1}, []byte{1, 2, 3, 4}, func(b []byte) []byte {
		b[0] |= 0x10 | 2 // two CSRCs and an extension
		b = append(b, make([]byte, 8)...)
		return append(b, 0xbe, 0xde, 0, 1, 9, 9, 9, 9)
	}))
	f.Add([]byte{0x80, 0, 0})
	f.Add(seed(RTPHeader{PayloadType: 13, SSRC: 1}, []byte{1}, nil))
	k := int64(1 << 40)
	read := func(t *testing.T) (rxPacket, bool) {
		buf := make([]byte, readBufferSize)
		agentPeer.conn.SetReadDeadline(time.Now().Add(time.Second))
		m, err := agentPeer.conn.Read(buf)
		if err != nil {
			return rxPacket{}, false
		}
		var out rxPacket
		if out.h, out.payload, err = ParseRTP(buf[:m]); err != nil {
			t.Fatalf("relayed packet is not valid RTP: %v", err)
		}
		return out, true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), readBufferSize)] // what one read takes
		h, payload, err := ParseRTP(data)
		audio := err == nil && h.PayloadType == 0
		event := err == nil && h.PayloadType == 101
		in.mu.Lock()
		in.q, in.haveSeq = relayQueue{}, false
		in.mu.Unlock()
		before := r.Stats().AToB
		pkt := make([]byte, readBufferSize)
		n := copy(pkt, data)
		var rx rxState
		caller.handle(&rx, pkt[:n], from)
		after := r.Stats().AToB

		in.mu.Lock()
		q := in.q
		in.mu.Unlock()
		wantQueued := 0
		if audio {
			wantQueued = min(len(payload), q.limit)
		}
		if q.n != wantQueued || q.n > relayQueueSize {
			t.Fatalf("%d samples queued, want %d", q.n, wantQueued)
		}
		queued := make([]byte, q.n)
		for i := range queued {
			queued[i] = q.buf[(q.start+i)%relayQueueSize]
		}
		if !slices.Equal(queued, payload[len(payload)-wantQueued:]) {
			t.Fatal("the queue does not hold the packet's newest samples")
		}
		if sent := after.Packets - before.Packets; sent != 0 && !event || sent != 1 && event {
			t.Fatalf("%d packets sent at once (event %v)", sent, event)
		}
		if event {
			out, ok := read(t)
			if !ok {
				t.Fatal("relayed event not received")
			}
			if out.h.PayloadType != 96 || !slices.Equal(out.payload, payload) || out.h.SSRC != agent.ssrc {
				t.Fatalf("relayed pt %d ssrc %x payload %x, want 96 %x %x", out.h.PayloadType, out.h.SSRC, out.payload, agent.ssrc, payload)
			}
		}
		// The agent's ticks: each sends a frame of the queue, converted.
		for started := false; q.n >= samplesPerFrame && (started || q.n >= q.level); started = true {
			want := slices.Clone(queued[:samplesPerFrame])
			transcode(&ulawToAlaw, want)
			queued = queued[samplesPerFrame:]
			q.n -= samplesPerFrame
			k++
			agent.relayTick(in, k)
			out, ok := read(t)
			if !ok {
				t.Fatal("queued frame not sent on the tick")
			}
			if out.h.PayloadType != 8 || !slices.Equal(out.payload, want) || out.h.SSRC != agent.ssrc {
				t.Fatalf("frame sent with pt %d ssrc %x payload %x, want 8 %x %x", out.h.PayloadType, out.h.SSRC, out.payload, agent.ssrc, want)
			}
		}
	})
}

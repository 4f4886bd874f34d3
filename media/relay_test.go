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

// Audio goes both ways, payloads untouched between legs of one law and
// converted byte for byte between μ-law and A-law, in the destination's
// stream: its SSRC, its sequence continuing after the prompt it played
// before, its timestamp on from there, the marker on the first packet only.
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
				from, to     *testPeer
				src, dst     *Session
				srcC, dstC   Codec
				ssrc         uint32
				seq0         uint16
				ts0          uint32
				wantConverts bool
			}
			dirs := []dir{
				{callerPeer, agentPeer, caller, agent, tt.caller, tt.agent, 0x1111, 65530, 4294967000, tt.caller != tt.agent},
				{agentPeer, callerPeer, agent, caller, tt.agent, tt.caller, 0x2222, 100, 5000, tt.caller != tt.agent},
			}
			for _, d := range dirs {
				start := time.Now()
				for j := range n {
					h := RTPHeader{PayloadType: d.srcC.PayloadType, SequenceNumber: d.seq0 + uint16(j), Timestamp: d.ts0 + uint32(j*samplesPerFrame), SSRC: d.ssrc, Marker: j == 0}
					d.from.sendRTP(d.src.LocalAddr(), h, ulawFrame(j))
					time.Sleep(time.Until(start.Add(time.Duration(j+1) * frameDuration)))
				}
				got := d.to.readAll(100 * time.Millisecond)
				if len(got) != n {
					t.Fatalf("%d packets relayed, want %d", len(got), n)
				}
				prev := before[d.dst]
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
					if pk.h.SequenceNumber != before[d.dst].h.SequenceNumber+1+uint16(j) {
						t.Errorf("packet %d: seq %d, want %d", j, pk.h.SequenceNumber, before[d.dst].h.SequenceNumber+1+uint16(j))
					}
					if pk.h.Marker != (j == 0) {
						t.Errorf("packet %d: marker %v", j, pk.h.Marker)
					}
					if j == 0 {
						// After the prompt's last frame, on the wall clock:
						// at least one frame on, not more than the time
						// since then.
						step := pk.h.Timestamp - prev.h.Timestamp
						elapsed := uint32(pk.at.Sub(prev.at)/time.Millisecond)*8 + 2*samplesPerFrame
						if step < samplesPerFrame || step > elapsed {
							t.Errorf("first relayed timestamp %d after the prompt's, want %d..%d", step, samplesPerFrame, elapsed)
						}
					} else if step := pk.h.Timestamp - got[j-1].h.Timestamp; step != samplesPerFrame {
						t.Errorf("packet %d: timestamp step %d", j, step)
					}
				}
			}
			st := r.Stats()
			for _, d := range []RelayDirectionStats{st.AToB, st.BToA} {
				wantConv := uint64(0)
				if tt.caller != tt.agent {
					wantConv = n
				}
				if d.Packets != n || d.Bytes != n*samplesPerFrame || d.Transcoded != wantConv || d.Dropped != 0 || d.Resyncs != 1 {
					t.Errorf("stats %+v", d)
				}
			}
		})
	}
}

// Telephone events take the destination's event payload type, keep their
// timestamps with the audio, and still reach the session's DTMF channel;
// a destination without telephone-event gets none.
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
			got := bp.agentPeer.readAll(100 * time.Millisecond)
			var events, audio []rxPacket
			for _, pk := range got {
				switch pk.h.PayloadType {
				case 96:
					events = append(events, pk)
				case 0:
					audio = append(audio, pk)
				default:
					t.Errorf("payload type %d relayed", pk.h.PayloadType)
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
			first := audio[0].h.Timestamp
			for i, ev := range events {
				if ev.h.Timestamp != first+samplesPerFrame {
					t.Errorf("event packet %d: timestamp %d after the audio's, want 160", i, ev.h.Timestamp-first)
				}
				if !slices.Equal(ev.payload[:1], []byte{7}) {
					t.Errorf("event packet %d: payload %x", i, ev.payload)
				}
				if ev.h.Marker { // as the source sent them
					t.Errorf("event packet %d: marker", i)
				}
			}
			// A new SSRC after the key: a new stream, so a marker and a
			// timestamp on the wall clock rather than the old offset.
			if !audio[1].h.Marker || st.Resyncs != 2 {
				t.Errorf("audio after the new ssrc: marker %v, resyncs %d", audio[1].h.Marker, st.Resyncs)
			}
			seqs := []uint16{}
			for _, pk := range got {
				seqs = append(seqs, pk.h.SequenceNumber-got[0].h.SequenceNumber)
			}
			if !slices.Equal(seqs, []uint16{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
				t.Errorf("sequence numbers %v", seqs)
			}
		})
	}
}

// While bridged the agent's session sends none of its prompt; the prompt
// runs on the clock and ends on time, and what is left of it after the
// relay stops is played in the same stream, timestamps going forward.
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
	start := time.Now()
	for j := range 15 {
		callerPeer.sendRTP(caller.LocalAddr(), RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * samplesPerFrame), SSRC: 9}, ulawFrame(j))
		time.Sleep(time.Until(start.Add(time.Duration(j+1) * frameDuration)))
	}
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
		isRelay := pk.payload[0] == ulawFrame(relayed)[0] && slices.Equal(pk.payload, ulawFrame(relayed))
		switch {
		case phase == 0 && isRelay:
			phase = 1
			relayed++
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
			if d := int32(pk.h.Timestamp - got[i-1].h.Timestamp); d < samplesPerFrame {
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
	// 50 frames of prompt, about 15 of them muted while bridged.
	if promptSent := len(got) - relayed; promptSent < 25 || promptSent > 45 || after == 0 {
		t.Errorf("%d prompt packets sent (%d after the relay), want about 35", promptSent, after)
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

// After Stop returns, nothing more is relayed.
func TestRelayStop(t *testing.T) {
	e := newTestEndpoint(t, 0)
	bp := newBridgedPair(t, e, CodecPCMU, CodecPCMU, 101, 101)
	stopAt := 10
	for j := range 20 {
		if j == stopAt {
			bp.relay.Stop()
		}
		bp.callerPeer.sendRTP(bp.caller.LocalAddr(), RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * 160), SSRC: 4}, ulawFrame(j))
		time.Sleep(5 * time.Millisecond)
	}
	got := bp.agentPeer.readAll(100 * time.Millisecond)
	if len(got) != stopAt {
		t.Errorf("%d packets relayed, want the %d sent before Stop", len(got), stopAt)
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

func TestStreamMap(t *testing.T) {
	type pkt struct {
		seq    uint16
		ts     uint32
		ssrc   uint32
		event  bool
		marker bool
		wall   uint32 // destination wall clock at arrival
	}
	type out struct {
		seq    uint16
		ts     uint32
		marker bool
	}
	const nextSeq, wall0 = 500, 100000
	audio := func(seq uint16, ts, wall uint32) pkt { return pkt{seq: seq, ts: ts, ssrc: 1, wall: wall} }
	tests := []struct {
		name   string
		nextTS uint32 // destination's first free timestamp
		in     []pkt
		want   []out
	}{
		{"continuous", wall0, []pkt{audio(10, 1000, wall0), audio(11, 1160, wall0+160), audio(12, 1320, wall0+320)},
			[]out{{500, wall0, true}, {501, wall0 + 160, false}, {502, wall0 + 320, false}}},
		{"after the destination's last packet", wall0 + 400, []pkt{audio(10, 1000, wall0)},
			[]out{{500, wall0 + 400, true}}},
		{"loss keeps the gap, no marker", wall0, []pkt{audio(10, 1000, wall0), audio(13, 1480, wall0+480)},
			[]out{{500, wall0, true}, {503, wall0 + 480, false}}},
		{"talkspurt after a pause", wall0, []pkt{audio(10, 1000, wall0), audio(11, 9000, wall0+8000)},
			[]out{{500, wall0, true}, {501, wall0 + 8000, true}}},
		{"source marker passes", wall0, []pkt{audio(10, 1000, wall0), {seq: 11, ts: 1160, ssrc: 1, marker: true, wall: wall0 + 160}},
			[]out{{500, wall0, true}, {501, wall0 + 160, true}}},
		{"reordered", wall0, []pkt{audio(10, 1000, wall0), audio(12, 1320, wall0+320), audio(11, 1160, wall0+330)},
			[]out{{500, wall0, true}, {502, wall0 + 320, false}, {501, wall0 + 160, false}}},
		{"new ssrc resyncs after the last packet", wall0, []pkt{audio(10, 1000, wall0), {seq: 7, ts: 77, ssrc: 2, wall: wall0 + 100}},
			[]out{{500, wall0, true}, {501, wall0 + 160, true}}},
		{"sequence restart resyncs", wall0, []pkt{audio(10, 1000, wall0), audio(20000, 1160, wall0+160)},
			[]out{{500, wall0, true}, {501, wall0 + 160, true}}},
		{"clock jump resyncs on the wall clock", wall0, []pkt{audio(10, 1000, wall0), audio(11, 900000, wall0+160)},
			[]out{{500, wall0, true}, {501, wall0 + 160, true}}},
		{"clock stood still while silent", wall0, []pkt{audio(10, 1000, wall0), audio(11, 1160, wall0+5*8000)},
			[]out{{500, wall0, true}, {501, wall0 + 5*8000, true}}},
		{"long event does not resync", wall0, []pkt{
			audio(10, 1000, wall0), {seq: 11, ts: 1160, ssrc: 1, event: true, marker: true, wall: wall0 + 160},
			{seq: 12, ts: 1160, ssrc: 1, event: true, wall: wall0 + 3*8000}, audio(13, 1160+3*8000, wall0+3*8000+160)},
			// Audio resuming after the key is a talkspurt.
			[]out{{500, wall0, true}, {501, wall0 + 160, true}, {502, wall0 + 160, false}, {503, wall0 + 160 + 3*8000, true}}},
		{"wraps", wall0, []pkt{audio(65535, 4294967200, wall0), audio(0, 64, wall0+160)},
			[]out{{500, wall0, true}, {501, wall0 + 160, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m streamMap
			seq, ts := uint16(nextSeq), tt.nextTS
			for i, p := range tt.in {
				samples := uint32(samplesPerFrame)
				if p.event {
					samples = 0
				}
				h := RTPHeader{SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc, Marker: p.marker}
				gs, gt, gm := m.next(&h, samples, p.event, p.wall, seq, ts)
				if got := (out{gs, gt, gm}); got != tt.want[i] {
					t.Errorf("packet %d: got %+v, want %+v", i, got, tt.want[i])
				}
				seq, ts = advance(seq, ts, gs, gt, samples)
			}
		})
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

// Any datagram from the caller's peer either goes through as a valid RTP
// packet of the agent's stream with the same payload (audio and telephone
// events) or is not relayed at all; nothing panics.
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
	f.Add(seed(RTPHeader{PayloadType: 101, SequenceNumber: 2, Timestamp: 320, SSRC: 1}, AppendDTMFPayload(nil, 1, false, 10, 160), nil))
	f.Add(seed(RTPHeader{PayloadType: 0, SequenceNumber: 3, SSRC: 1}, []byte{1, 2, 3, 4}, func(b []byte) []byte {
		b[0] |= 0x10 | 2 // two CSRCs and an extension
		b = append(b, make([]byte, 8)...)
		return append(b, 0xbe, 0xde, 0, 1, 9, 9, 9, 9)
	}))
	f.Add([]byte{0x80, 0, 0})
	f.Add(seed(RTPHeader{PayloadType: 13, SSRC: 1}, []byte{1}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), readBufferSize)] // what one read takes
		h, payload, err := ParseRTP(data)
		want := err == nil && (h.PayloadType == 0 || h.PayloadType == 101)
		before := r.Stats().AToB.Packets
		pkt := make([]byte, readBufferSize)
		n := copy(pkt, data)
		var rx rxState
		caller.handle(&rx, pkt[:n], from)
		got := r.Stats().AToB.Packets - before
		if !want {
			if got != 0 {
				t.Fatalf("relayed a packet that is neither audio nor an event (err %v, pt %d)", err, h.PayloadType)
			}
			return
		}
		if got != 1 {
			t.Fatalf("%d packets relayed, want 1", got)
		}
		buf := make([]byte, readBufferSize)
		agentPeer.conn.SetReadDeadline(time.Now().Add(time.Second))
		m, err := agentPeer.conn.Read(buf)
		if err != nil {
			t.Fatalf("relayed packet not received: %v", err)
		}
		var out rxPacket
		if out.h, out.payload, err = ParseRTP(buf[:m]); err != nil {
			t.Fatalf("relayed packet is not valid RTP: %v", err)
		}
		wantPayload := slices.Clone(payload)
		wantPT := uint8(96)
		if h.PayloadType == 0 {
			transcode(&ulawToAlaw, wantPayload)
			wantPT = 8
		}
		if out.h.PayloadType != wantPT || !slices.Equal(out.payload, wantPayload) {
			t.Fatalf("relayed pt %d payload %x, want %d %x", out.h.PayloadType, out.payload, wantPT, wantPayload)
		}
	})
}

package media

import (
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// benchBase is a tick far from the endpoint's own, for benchmarks that
// run a session's ticks themselves.
const benchBase = int64(1 << 40)

// benchBridge returns two started sessions bridged, each with a far end
// that never reads (the kernel drops what overflows, at the sender's same
// cost). Neither is on its pacer: the benchmark runs their ticks.
func benchBridge(b *testing.B, callerCodec, agentCodec Codec) (caller, agent *Session, r *Relay) {
	e := newTestEndpoint(b, 0)
	caller = startSessionDTMF(b, e, newTestPeer(b), callerCodec, 101)
	agent = startSessionDTMF(b, e, newTestPeer(b), agentCodec, 101)
	r, err := Bridge(caller, agent)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Stop)
	caller.pacer.remove(caller)
	agent.pacer.remove(agent)
	return caller, agent, r
}

// BenchmarkRelay is the CPU of a relayed packet once read from the
// socket: on the receive goroutine the source check, RTP parse, DTMF and
// recording taps and the jitter queue (or for a telephone event the
// header rewrite and the sendto(2) at once); then for audio the
// destination's tick that takes the frame, converts it if need be and
// sends it to the other leg's peer. CPU per relayed packet = ns/op.
func BenchmarkRelay(b *testing.B) {
	for _, bc := range []struct {
		name          string
		caller, agent Codec
		pt            uint8
		payload       []byte
	}{
		{"pcmu", CodecPCMU, CodecPCMU, 0, make([]byte, samplesPerFrame)},
		{"pcmu-to-pcma", CodecPCMU, CodecPCMA, 0, make([]byte, samplesPerFrame)},
		{"event", CodecPCMU, CodecPCMU, 101, AppendDTMFPayload(nil, 5, false, 10, 160)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			caller, agent, r := benchBridge(b, bc.caller, bc.agent)
			from := caller.peer.Load().remote
			src := make([]byte, RTPHeaderSize+len(bc.payload))
			copy(src[RTPHeaderSize:], bc.payload)
			pkt := make([]byte, readBufferSize)
			var rx rxState
			var seq uint16
			var ts uint32
			k := benchBase
			b.ReportAllocs()
			for b.Loop() {
				seq++
				if bc.pt != 101 {
					ts += samplesPerFrame
				}
				(&RTPHeader{PayloadType: bc.pt, SequenceNumber: seq, Timestamp: ts, SSRC: 7}).MarshalTo(src)
				n := copy(pkt, src) // as the read does
				caller.handle(&rx, pkt[:n], from)
				if bc.pt != 101 {
					k++
					agent.relayTick(&r.ab, k)
				}
			}
			if st := r.Stats().AToB; st.Packets == 0 || st.Dropped != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkRelayReceive is the receive goroutine's share of a relayed
// audio packet: parse, taps, and the copy into the jitter queue.
func BenchmarkRelayReceive(b *testing.B) {
	caller, _, r := benchBridge(b, CodecPCMU, CodecPCMU)
	from := caller.peer.Load().remote
	src := make([]byte, RTPHeaderSize+samplesPerFrame)
	pkt := make([]byte, readBufferSize)
	var rx rxState
	var seq uint16
	b.ReportAllocs()
	for b.Loop() {
		seq++
		(&RTPHeader{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * samplesPerFrame, SSRC: 7}).MarshalTo(src)
		n := copy(pkt, src)
		caller.handle(&rx, pkt[:n], from)
	}
	if st := r.Stats().AToB; st.Dropped != 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkRelayTick is a bridged session's per-tick path: the pacer's
// tick takes a frame from the jitter queue (one is queued before each,
// directly), marshals the header and sends it to the session's peer.
func BenchmarkRelayTick(b *testing.B) {
	for _, bc := range []struct {
		name          string
		caller, agent Codec
	}{
		{"pcmu", CodecPCMU, CodecPCMU},
		{"pcmu-to-pcma", CodecPCMU, CodecPCMA},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, agent, r := benchBridge(b, bc.caller, bc.agent)
			in := &r.ab
			payload := ulawFrame(0)
			k := benchBase
			b.ReportAllocs()
			for b.Loop() {
				in.mu.Lock()
				in.q.push(payload, bc.caller)
				in.mu.Unlock()
				k++
				agent.tick(k)
			}
			if st := r.Stats().AToB; st.Packets == 0 || st.Dropped != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkRelayRecording is BenchmarkRelay with both sessions recorded:
// the caller's audio into its jitter queue, and on the agent's tick the
// frame sent decoded for the agent's recording.
func BenchmarkRelayRecording(b *testing.B) {
	caller, agent, r := benchBridge(b, CodecPCMU, CodecPCMU)
	for _, s := range []*Session{caller, agent} {
		rec, err := s.Record(discardSink{})
		if err != nil {
			b.Fatal(err)
		}
		rec.mu.Lock()
		rec.lastK = benchBase
		rec.mu.Unlock()
		b.Cleanup(func() { rec.Stop(context.Background()) })
	}
	from := caller.peer.Load().remote
	src := make([]byte, RTPHeaderSize+samplesPerFrame)
	pkt := make([]byte, readBufferSize)
	var rx rxState
	k := benchBase
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		(&RTPHeader{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * samplesPerFrame, SSRC: 7}).MarshalTo(src)
		n := copy(pkt, src)
		caller.handle(&rx, pkt[:n], from)
		k++
		agent.tick(k)
	}
	if st := r.Stats().AToB; st.Packets == 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkRelayUDP adds the socket read: the caller's peer writes a
// packet, the caller's session reads it and queues it, the agent's tick
// sends it to the agent's peer. It counts the peer's sendto as well: an
// upper bound of the receive and relay cost.
func BenchmarkRelayUDP(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	caller, err := e.NewSession(quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer caller.Close()
	p, _ := newPeer(peer.addr(), CodecPCMU, 101)
	// Started by hand: this goroutine reads the socket instead of the
	// receive goroutine.
	caller.peer.Store(p)
	caller.started.Store(true)
	agent := startSessionDTMF(b, e, newTestPeer(b), CodecPCMU, 101)
	r, err := Bridge(caller, agent)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	caller.pacer.remove(caller)
	agent.pacer.remove(agent)
	pkt := make([]byte, RTPHeaderSize+samplesPerFrame)
	buf := make([]byte, readBufferSize)
	dst := caller.LocalAddr()
	var rx rxState
	var seq uint16
	k := benchBase
	b.ReportAllocs()
	for b.Loop() {
		seq++
		(&RTPHeader{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * samplesPerFrame, SSRC: 7}).MarshalTo(pkt)
		if _, err := peer.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		n, from, err := caller.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			b.Fatal(err)
		}
		caller.handle(&rx, buf[:n], from)
		k++
		agent.tick(k)
	}
	if st := r.Stats().AToB; st.Packets == 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkRelayToWebRTC is a caller's packet relayed to a browser: the
// session's receive path into the queue, then on the session's tick the
// leg's SRTP encryption and send over ICE.
func BenchmarkRelayToWebRTC(b *testing.B) {
	e := newTestEndpoint(b, 0)
	caller := startSessionDTMF(b, e, newTestPeer(b), CodecPCMU, 101)
	w := newTestWebRTC(b, WebRTCConfig{IPs: []netip.Addr{loopback}})
	leg, br := connect(b, w)
	br.mu.Lock()
	br.discard = true
	br.mu.Unlock()
	r, err := Bridge(caller, leg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	caller.pacer.remove(caller)
	from := caller.peer.Load().remote
	src := make([]byte, RTPHeaderSize+samplesPerFrame)
	pkt := make([]byte, readBufferSize)
	var rx rxState
	var seq uint16
	k := benchBase
	b.ReportAllocs()
	for b.Loop() {
		seq++
		(&RTPHeader{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * samplesPerFrame, SSRC: 7}).MarshalTo(src)
		n := copy(pkt, src)
		caller.handle(&rx, pkt[:n], from)
		k++
		caller.tick(k)
	}
	if st := r.Stats().AToB; st.Packets == 0 || st.Dropped != 0 {
		b.Fatalf("stats %+v", st)
	}
}

// cpuTime returns the CPU time (user and system) the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelayFromWebRTC is a browser's packet relayed to a caller: the
// browser's SRTP encryption and send, the leg's receive (ICE, SRTP
// decryption, the read) into the queue on the leg's goroutine, then the
// caller's tick that sends it to the caller's peer, which reads it before
// the next one is sent. ns/op is that round, with the polling for the
// leg's goroutine (sleeps of 20 µs); cpu-µs/pkt the CPU the whole process
// spent per packet, the browser's side and the polling included.
func BenchmarkRelayFromWebRTC(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	caller := startSessionDTMF(b, e, peer, CodecPCMU, 101)
	w := newTestWebRTC(b, WebRTCConfig{IPs: []netip.Addr{loopback}})
	leg, br := connect(b, w)
	r, err := Bridge(caller, leg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	caller.pacer.remove(caller)
	in := &r.ba
	queued := func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.q.n >= samplesPerFrame
	}
	payload := make([]byte, samplesPerFrame)
	buf := make([]byte, readBufferSize)
	var seq uint16
	k := benchBase
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		seq++
		if err := br.track.send(0, seq, uint32(seq)*samplesPerFrame, false, payload); err != nil {
			b.Fatal(err)
		}
		for !queued() {
			time.Sleep(20 * time.Microsecond)
		}
		k++
		caller.tick(k)
		peer.conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := peer.conn.Read(buf); err != nil {
			b.Fatalf("packet %d not relayed: %v", seq, err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/pkt")
}

package media

import (
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// benchBridge returns two started sessions bridged, each with a far end
// that never reads (the kernel drops what overflows, at the sender's same
// cost).
func benchBridge(b *testing.B, callerCodec, agentCodec Codec) (caller, agent *Session, r *Relay) {
	e := newTestEndpoint(b, 0)
	caller = startSessionDTMF(b, e, newTestPeer(b), callerCodec, 101)
	agent = startSessionDTMF(b, e, newTestPeer(b), agentCodec, 101)
	r, err := Bridge(caller, agent)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Stop)
	return caller, agent, r
}

// BenchmarkRelay is the per-packet path of a relayed packet once read from
// the socket: source check, RTP parse, DTMF and recording taps, header
// rewrite into the destination's stream, conversion if any, and the
// sendto(2) to the other leg's peer. CPU per relayed packet = ns/op.
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
			caller, _, r := benchBridge(b, bc.caller, bc.agent)
			from := caller.peer.Load().remote
			src := make([]byte, RTPHeaderSize+len(bc.payload))
			copy(src[RTPHeaderSize:], bc.payload)
			pkt := make([]byte, readBufferSize)
			var rx rxState
			var seq uint16
			var ts uint32
			b.ReportAllocs()
			for b.Loop() {
				seq++
				if bc.pt != 101 {
					ts += samplesPerFrame
				}
				(&RTPHeader{PayloadType: bc.pt, SequenceNumber: seq, Timestamp: ts, SSRC: 7}).MarshalTo(src)
				n := copy(pkt, src) // as the read does
				caller.handle(&rx, pkt[:n], from)
			}
			if st := r.Stats().AToB; st.Packets == 0 || st.Dropped != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// BenchmarkRelayRecording is BenchmarkRelay with both sessions recorded:
// the caller's audio into one jitter queue, the relayed audio into the
// other's.
func BenchmarkRelayRecording(b *testing.B) {
	caller, agent, r := benchBridge(b, CodecPCMU, CodecPCMU)
	for _, s := range []*Session{caller, agent} {
		rec, err := s.Record(discardSink{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { rec.Stop(context.Background()) })
	}
	from := caller.peer.Load().remote
	src := make([]byte, RTPHeaderSize+samplesPerFrame)
	pkt := make([]byte, readBufferSize)
	var rx rxState
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		(&RTPHeader{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * samplesPerFrame, SSRC: 7}).MarshalTo(src)
		n := copy(pkt, src)
		caller.handle(&rx, pkt[:n], from)
	}
	if st := r.Stats().AToB; st.Packets == 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkRelayUDP adds the socket read: the caller's peer writes a
// packet, the caller's session reads it and relays it to the agent's peer.
// It counts the peer's sendto as well: an upper bound of the receive and
// relay cost.
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
	pkt := make([]byte, RTPHeaderSize+samplesPerFrame)
	buf := make([]byte, readBufferSize)
	dst := caller.LocalAddr()
	var rx rxState
	var seq uint16
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
	}
	if st := r.Stats().AToB; st.Packets == 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkRelayToWebRTC is a caller's packet relayed to a browser: the
// session's receive path, then the leg's SRTP encryption and send over ICE.
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
// decryption, the read), the relay and the sendto to the caller's peer,
// which reads it before the next one is sent. ns/op is that round of
// latency; cpu-µs/pkt the CPU the whole process spent per packet, the
// browser's side included.
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
	payload := make([]byte, samplesPerFrame)
	buf := make([]byte, readBufferSize)
	var seq uint16
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		seq++
		if err := br.track.send(0, seq, uint32(seq)*samplesPerFrame, false, payload); err != nil {
			b.Fatal(err)
		}
		peer.conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := peer.conn.Read(buf); err != nil {
			b.Fatalf("packet %d not relayed: %v", seq, err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/pkt")
}

package media

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var loopback = netip.MustParseAddr("127.0.0.1")

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestEndpoint(t testing.TB, timeout time.Duration) *Endpoint {
	t.Helper()
	e, err := NewEndpoint(EndpointConfig{
		IP: loopback, PortMin: 32000, PortMax: 32998, MediaTimeout: timeout, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testPeer is the far end of a session: a plain UDP socket.
type testPeer struct {
	t    testing.TB
	conn *net.UDPConn
}

func newTestPeer(t testing.TB) *testPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testPeer{t: t, conn: conn}
}

func (p *testPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

type rxPacket struct {
	at      time.Time
	h       RTPHeader
	payload []byte
}

// read returns the next packet, or ok false after wait without one.
func (p *testPeer) read(wait time.Duration) (rxPacket, bool) {
	p.t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := p.conn.Read(buf)
	if err != nil {
		return rxPacket{}, false
	}
	h, payload, err := ParseRTP(buf[:n])
	if err != nil {
		p.t.Fatalf("peer got invalid rtp: %v", err)
	}
	return rxPacket{at: time.Now(), h: h, payload: payload}, true
}

// readAll reads packets until none came for quiet.
func (p *testPeer) readAll(quiet time.Duration) []rxPacket {
	var out []rxPacket
	for {
		pk, ok := p.read(quiet)
		if !ok {
			return out
		}
		out = append(out, pk)
	}
}

// sendEvent sends one telephone-event packet to dst.
func (p *testPeer) sendEvent(dst netip.AddrPort, pt uint8, seq uint16, ts uint32, event uint8, end bool, duration uint16) {
	p.t.Helper()
	h := RTPHeader{PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 0xabcdef}
	buf := make([]byte, RTPHeaderSize, RTPHeaderSize+4)
	h.MarshalTo(buf)
	buf = AppendDTMFPayload(buf, event, end, 10, duration)
	if _, err := p.conn.WriteToUDPAddrPort(buf, dst); err != nil {
		p.t.Fatal(err)
	}
}

// sendKey sends a whole key press: start, updates and three end packets.
func (p *testPeer) sendKey(dst netip.AddrPort, pt uint8, seq *uint16, ts uint32, event uint8, skipFirst bool) {
	for i, tp := range keyPress(ts, event, 3) {
		if i == 0 && skipFirst {
			*seq++
			continue
		}
		p.sendEvent(dst, pt, *seq, tp.ts, tp.event, tp.end, tp.duration)
		*seq++
	}
}

func startSession(t testing.TB, e *Endpoint, peer *testPeer, codec Codec) *Session {
	t.Helper()
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Start(peer.addr(), codec, 101); err != nil {
		t.Fatal(err)
	}
	return s
}

func ramp(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(i*37 - 5000)
	}
	return s
}

func waitDone(t testing.TB, ch <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s not done within %v", what, within)
	}
}

func TestSessionPlay(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)

	first := ramp(5 * samplesPerFrame)
	second := ramp(250) // 2 frames, the last padded with silence
	pb := s.Play([]Clip{{Samples: first}, {Silence: 100 * time.Millisecond}, {Samples: second}})
	got := peer.readAll(200 * time.Millisecond)
	waitDone(t, pb.Done(), time.Millisecond, "playback")
	if pb.Stopped() {
		t.Error("playback reports stopped")
	}
	if len(got) != 7 {
		t.Fatalf("got %d packets, want 7", len(got))
	}

	for i, pk := range got {
		if pk.h.PayloadType != CodecPCMU.PayloadType {
			t.Errorf("packet %d: payload type %d", i, pk.h.PayloadType)
		}
		if pk.h.SSRC != got[0].h.SSRC {
			t.Errorf("packet %d: ssrc changed", i)
		}
		if len(pk.payload) != samplesPerFrame {
			t.Errorf("packet %d: %d payload bytes", i, len(pk.payload))
		}
		if i == 0 {
			continue
		}
		if pk.h.SequenceNumber != got[i-1].h.SequenceNumber+1 {
			t.Errorf("packet %d: seq %d after %d", i, pk.h.SequenceNumber, got[i-1].h.SequenceNumber)
		}
		// Packet 5 follows 100 ms (5 ticks) of silence: its timestamp
		// advanced by 6 frames, and it starts a talkspurt.
		wantStep, wantMarker := uint32(samplesPerFrame), false
		if i == 5 {
			wantStep, wantMarker = 6*samplesPerFrame, true
		}
		if step := pk.h.Timestamp - got[i-1].h.Timestamp; step != wantStep {
			t.Errorf("packet %d: timestamp step %d, want %d", i, step, wantStep)
		}
		if pk.h.Marker != wantMarker {
			t.Errorf("packet %d: marker %v, want %v", i, pk.h.Marker, wantMarker)
		}
	}
	if !got[0].h.Marker {
		t.Error("first packet has no marker")
	}

	// Payloads are the μ-law of the clips, the last frame padded.
	want := make([]byte, samplesPerFrame)
	EncodeUlaw(want, first[:samplesPerFrame])
	if !slices.Equal(got[0].payload, want) {
		t.Error("first payload is not the encoded clip")
	}
	EncodeUlaw(want, second[samplesPerFrame:])
	for i := 250 - samplesPerFrame; i < samplesPerFrame; i++ {
		want[i] = ulawSilence
	}
	if !slices.Equal(got[6].payload, want) {
		t.Error("last payload is not the encoded tail padded with silence")
	}

	// Spacing: loose bounds, the tests may share the machine.
	span := got[4].at.Sub(got[0].at)
	if span < 60*time.Millisecond || span > 200*time.Millisecond {
		t.Errorf("4 intervals took %v, want about 80ms", span)
	}
	gap := got[5].at.Sub(got[4].at)
	if gap < 90*time.Millisecond || gap > 250*time.Millisecond {
		t.Errorf("silence gap %v, want about 120ms", gap)
	}

	st := s.Stats()
	if st.PacketsSent != 7 || st.BytesSent != 7*samplesPerFrame {
		t.Errorf("stats %+v", st)
	}
}

func TestSessionPlayAlaw(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMA)
	pb := s.Play([]Clip{{Samples: ramp(samplesPerFrame)}})
	waitDone(t, pb.Done(), time.Second, "playback")
	pk, ok := peer.read(time.Second)
	if !ok {
		t.Fatal("no packet")
	}
	want := make([]byte, samplesPerFrame)
	EncodeAlaw(want, ramp(samplesPerFrame))
	if pk.h.PayloadType != 8 || !slices.Equal(pk.payload, want) {
		t.Errorf("pt %d, payload mismatch %v", pk.h.PayloadType, !slices.Equal(pk.payload, want))
	}
}

// Two playbacks in a row: the second follows at once, timestamps and
// sequence numbers continue, no new talkspurt.
func TestSessionPlayQueue(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	a := s.Play([]Clip{{Samples: ramp(2 * samplesPerFrame)}})
	b := s.Play([]Clip{{Samples: ramp(2 * samplesPerFrame)}})
	waitDone(t, b.Done(), time.Second, "second playback")
	select {
	case <-a.Done():
	default:
		t.Error("first playback not done after the second")
	}
	got := peer.readAll(100 * time.Millisecond)
	if len(got) != 4 {
		t.Fatalf("got %d packets, want 4", len(got))
	}
	for i := 1; i < 4; i++ {
		if got[i].h.Marker || got[i].h.Timestamp-got[i-1].h.Timestamp != samplesPerFrame {
			t.Errorf("packet %d: marker %v ts step %d", i, got[i].h.Marker, got[i].h.Timestamp-got[i-1].h.Timestamp)
		}
	}
}

func TestPlaybackStop(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	pb := s.Play([]Clip{{Samples: ramp(5 * sampleRate)}})
	for range 3 {
		if _, ok := peer.read(time.Second); !ok {
			t.Fatal("playback did not start")
		}
	}
	pb.Stop()
	sentAtStop := s.Stats().PacketsSent
	waitDone(t, pb.Done(), 10*time.Millisecond, "stopped playback")
	if !pb.Stopped() {
		t.Error("Stopped() false after Stop")
	}
	// The stream ends; at most the packet being written at Stop went out after it.
	peer.readAll(150 * time.Millisecond)
	if after := s.Stats().PacketsSent - sentAtStop; after > 1 {
		t.Errorf("%d packets sent after Stop", after)
	}

	// The next playback starts a new talkspurt.
	next := s.Play([]Clip{{Samples: ramp(samplesPerFrame)}})
	waitDone(t, next.Done(), time.Second, "next playback")
	pk, ok := peer.read(time.Second)
	if !ok || !pk.h.Marker {
		t.Errorf("next playback: got %v, marker %v", ok, pk.h.Marker)
	}
}

func TestSetSending(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	s.SetSending(false)
	pb := s.Play([]Clip{{Samples: ramp(3 * samplesPerFrame)}})
	waitDone(t, pb.Done(), time.Second, "playback on hold")
	if got := peer.readAll(60 * time.Millisecond); len(got) != 0 {
		t.Errorf("got %d packets while not sending", len(got))
	}
	s.SetSending(true)
	s.Play([]Clip{{Samples: ramp(samplesPerFrame)}})
	if pk, ok := peer.read(time.Second); !ok || !pk.h.Marker {
		t.Errorf("after resume: got %v, marker %v", ok, pk.h.Marker)
	}
}

func TestDTMFReceive(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	dst := s.LocalAddr()

	var seq uint16
	peer.sendKey(dst, 101, &seq, 1000, 1, false)
	peer.sendKey(dst, 101, &seq, 3000, 11, false)
	peer.sendKey(dst, 101, &seq, 5000, 1, true) // first packet lost
	// Audio packets and another payload type are not DTMF.
	peer.sendEvent(dst, 0, seq, 7000, 5, true, 800)
	peer.sendEvent(dst, 100, seq+1, 7000, 5, true, 800)

	var got []rune
	timeout := time.After(time.Second)
	for len(got) < 3 {
		select {
		case ev := <-s.DTMF():
			if ev.Via != ViaRFC4733 || ev.At.IsZero() {
				t.Errorf("event %+v", ev)
			}
			got = append(got, ev.Digit)
		case <-timeout:
			t.Fatalf("got digits %q, want 3", string(got))
		}
	}
	select {
	case ev := <-s.DTMF():
		t.Errorf("extra digit %q", ev.Digit)
	case <-time.After(100 * time.Millisecond):
	}
	if string(got) != "1#1" {
		t.Errorf("digits %q, want 1#1", string(got))
	}
	if st := s.Stats(); st.DTMF != 3 || st.PacketsReceived == 0 {
		t.Errorf("stats %+v", st)
	}
}

// The first packet of an event yields the digit at once, before the key is released.
func TestDTMFFirstPacketImmediate(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	peer.sendEvent(s.LocalAddr(), 101, 1, 1000, 9, false, 160)
	select {
	case ev := <-s.DTMF():
		if ev.Digit != '9' {
			t.Errorf("digit %q, want 9", ev.Digit)
		}
	case <-time.After(time.Second):
		t.Fatal("no digit after the first packet")
	}
}

func TestDTMFNotNegotiated(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(peer.addr(), CodecPCMU, 0); err != nil {
		t.Fatal(err)
	}
	var seq uint16
	peer.sendKey(s.LocalAddr(), 101, &seq, 1000, 1, false)
	select {
	case ev := <-s.DTMF():
		t.Errorf("digit %q without telephone-event", ev.Digit)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWrongSourceDropped(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	intruder := newTestPeer(t) // same address, other port
	s := startSession(t, e, peer, CodecPCMU)

	var seq uint16
	intruder.sendKey(s.LocalAddr(), 101, &seq, 1000, 3, false)
	peer.sendKey(s.LocalAddr(), 101, &seq, 2000, 4, false)
	select {
	case ev := <-s.DTMF():
		if ev.Digit != '4' {
			t.Errorf("digit %q from the intruder", ev.Digit)
		}
	case <-time.After(time.Second):
		t.Fatal("no digit from the peer")
	}
	select {
	case ev := <-s.DTMF():
		t.Errorf("extra digit %q", ev.Digit)
	case <-time.After(50 * time.Millisecond):
	}
	if st := s.Stats(); st.PacketsDropped != 7 || st.PacketsReceived != 7 {
		t.Errorf("dropped %d received %d, want 7 and 7", st.PacketsDropped, st.PacketsReceived)
	}
}

func TestSetRemote(t *testing.T) {
	e := newTestEndpoint(t, 0)
	old, next := newTestPeer(t), newTestPeer(t)
	s := startSession(t, e, old, CodecPCMU)
	s.SetRemote(next.addr(), CodecPCMA, 96)
	s.Play([]Clip{{Samples: ramp(samplesPerFrame)}})
	pk, ok := next.read(time.Second)
	if !ok || pk.h.PayloadType != CodecPCMA.PayloadType {
		t.Fatalf("new peer: got %v, pt %d", ok, pk.h.PayloadType)
	}
	if _, ok := old.read(50 * time.Millisecond); ok {
		t.Error("old peer still gets packets")
	}
	var seq uint16
	old.sendKey(s.LocalAddr(), 96, &seq, 1000, 2, false)
	next.sendKey(s.LocalAddr(), 96, &seq, 1000, 7, false)
	select {
	case ev := <-s.DTMF():
		if ev.Digit != '7' {
			t.Errorf("digit %q, want 7 from the new peer", ev.Digit)
		}
	case <-time.After(time.Second):
		t.Fatal("no digit from the new peer")
	}
	s.SetRemote(netip.AddrPort{}, CodecPCMU, 0) // invalid: ignored
	s.Play([]Clip{{Samples: ramp(samplesPerFrame)}})
	if _, ok := next.read(time.Second); !ok {
		t.Error("invalid SetRemote changed the peer")
	}
}

func TestMediaTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newTestEndpoint(t, timeout)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	start := time.Now()

	// Packets keep it alive.
	var lastSent time.Time
	for i := range 6 {
		peer.sendEvent(s.LocalAddr(), 0, uint16(i), uint32(i*160), 0, false, 0)
		lastSent = time.Now()
		time.Sleep(50 * time.Millisecond)
	}
	if s.Err() != nil {
		t.Fatalf("session ended while the peer sent: %v", s.Err())
	}
	waitDone(t, s.Done(), 2*time.Second, "session")
	if !errors.Is(s.Err(), ErrMediaTimeout) {
		t.Errorf("Err = %v, want ErrMediaTimeout", s.Err())
	}
	if d := time.Since(lastSent); d < timeout-50*time.Millisecond {
		t.Errorf("timed out %v after the last packet, want about %v (started %v ago)", d, timeout, time.Since(start))
	}
	// A timed-out session frees its port and refuses playbacks.
	pb := s.Play([]Clip{{Samples: ramp(10)}})
	waitDone(t, pb.Done(), time.Millisecond, "playback on ended session")
	if err := s.Close(); err != nil || !errors.Is(s.Err(), ErrMediaTimeout) {
		t.Errorf("Close = %v, Err = %v", err, s.Err())
	}
}

func TestMediaTimeoutOnlyAfterStart(t *testing.T) {
	e := newTestEndpoint(t, 50*time.Millisecond)
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(120 * time.Millisecond)
	if s.Err() != nil {
		t.Fatalf("session ended before Start: %v", s.Err())
	}
	peer := newTestPeer(t)
	if err := s.Start(peer.addr(), CodecPCMU, 0); err != nil {
		t.Fatal(err)
	}
	s.SetMediaTimeout(0) // e.g. the peer put the call on hold
	time.Sleep(120 * time.Millisecond)
	if s.Err() != nil {
		t.Fatalf("session ended with the timeout disabled: %v", s.Err())
	}
	s.SetMediaTimeout(30 * time.Millisecond)
	waitDone(t, s.Done(), time.Second, "session")
	if !errors.Is(s.Err(), ErrMediaTimeout) {
		t.Errorf("Err = %v", s.Err())
	}
}

func TestSessionClose(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s := startSession(t, e, peer, CodecPCMU)
	pb := s.Play([]Clip{{Samples: ramp(sampleRate)}})
	queued := s.Play([]Clip{{Samples: ramp(sampleRate)}})
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s.Done(), time.Millisecond, "session")
	waitDone(t, pb.Done(), time.Millisecond, "playing playback")
	waitDone(t, queued.Done(), time.Millisecond, "queued playback")
	if !errors.Is(s.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", s.Err())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Start(peer.addr(), CodecPCMU, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
	if e.Sessions() != 0 {
		t.Errorf("endpoint still has %d sessions", e.Sessions())
	}
}

func TestSessionStartErrors(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(peer.addr(), Codec{Name: "opus", PayloadType: 111, ClockRate: 48000}, 0); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("opus: err = %v", err)
	}
	if err := s.Start(netip.AddrPort{}, CodecPCMU, 0); err == nil {
		t.Error("invalid remote: no error")
	}
	if err := s.Start(peer.addr(), CodecPCMU, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(peer.addr(), CodecPCMU, 0); err == nil {
		t.Error("second Start: no error")
	}
}

// Play before Start waits for Start; an empty Play is done at once.
func TestPlayBeforeStart(t *testing.T) {
	e := newTestEndpoint(t, 0)
	peer := newTestPeer(t)
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitDone(t, s.Play(nil).Done(), time.Millisecond, "empty playback")
	pb := s.Play([]Clip{{Samples: ramp(samplesPerFrame)}})
	time.Sleep(50 * time.Millisecond)
	select {
	case <-pb.Done():
		t.Fatal("playback ran before Start")
	default:
	}
	if err := s.Start(peer.addr(), CodecPCMU, 0); err != nil {
		t.Fatal(err)
	}
	waitDone(t, pb.Done(), time.Second, "playback")
	if _, ok := peer.read(time.Second); !ok {
		t.Error("no packet after Start")
	}
}

func TestInjectDTMF(t *testing.T) {
	e := newTestEndpoint(t, 0)
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.InjectDTMF('x', ViaInfo) // not a key: ignored
	s.InjectDTMF('#', ViaInfo)
	select {
	case ev := <-s.DTMF():
		if ev.Digit != '#' || ev.Via != ViaInfo {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("no injected digit")
	}
	for range dtmfQueue + 3 {
		s.InjectDTMF('1', ViaInfo)
	}
	if st := s.Stats(); st.DTMFDropped != 3 || st.DTMF != dtmfQueue+1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPortAllocation(t *testing.T) {
	// Find three consecutive even ports free right now.
	min := 33000
	for ; min < 34000; min += 6 {
		if portsFree(min, min+2, min+4) {
			break
		}
	}
	e, err := NewEndpoint(EndpointConfig{IP: loopback, PortMin: min - 1, PortMax: min + 5, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	var ss []*Session
	seen := map[uint16]bool{}
	for range 3 {
		s, err := e.NewSession(nil)
		if err != nil {
			t.Fatal(err)
		}
		p := s.LocalAddr().Port()
		if p%2 != 0 || int(p) < min || int(p) > min+4 || seen[p] || s.LocalAddr().Addr() != loopback {
			t.Errorf("port %v: want a new even port in %d-%d", s.LocalAddr(), min, min+4)
		}
		seen[p] = true
		ss = append(ss, s)
	}
	if _, err := e.NewSession(nil); !errors.Is(err, ErrNoPort) {
		t.Errorf("fourth session: err = %v, want ErrNoPort", err)
	}
	freed := ss[1].LocalAddr()
	ss[1].Close()
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	if s.LocalAddr() != freed {
		t.Errorf("got %v, want the freed %v", s.LocalAddr(), freed)
	}
	if e.Sessions() != 3 {
		t.Errorf("Sessions = %d, want 3", e.Sessions())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(ss, s) {
		if !errors.Is(s.Err(), ErrClosed) {
			t.Errorf("after endpoint Close: session Err = %v", s.Err())
		}
	}
	if _, err := e.NewSession(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSession after Close: %v", err)
	}
}

func portsFree(ports ...int) bool {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, p := range ports {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p))))
		if err != nil {
			return false
		}
		conns = append(conns, c)
	}
	return true
}

func TestNewEndpointErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  EndpointConfig
	}{
		{"no ip", EndpointConfig{PortMin: 10000, PortMax: 10010}},
		{"inverted range", EndpointConfig{IP: loopback, PortMin: 10010, PortMax: 10000}},
		{"port too big", EndpointConfig{IP: loopback, PortMin: 10000, PortMax: 70000}},
		{"no even port", EndpointConfig{IP: loopback, PortMin: 10001, PortMax: 10001}},
		{"negative timeout", EndpointConfig{IP: loopback, PortMin: 10000, PortMax: 10010, MediaTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := NewEndpoint(tt.cfg); err == nil {
				e.Close()
				t.Error("no error")
			}
		})
	}
}

package media

import (
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSessionSend is the pacer's per-packet path: encode one frame,
// marshal the header, write the datagram to a loopback socket.
func BenchmarkSessionSend(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	s := startSession(b, e, peer, CodecPCMU)
	frame := ramp(samplesPerFrame)
	// The peer does not read: once its buffer is full the kernel drops the
	// datagrams, which costs the sender the same.
	b.ReportAllocs()
	k := int64(1 << 40) // far from the endpoint's own ticks
	for b.Loop() {
		s.send(k, frame, nil)
		k++
	}
	if s.Stats().PacketsSent == 0 {
		b.Fatal("nothing sent")
	}
}

// BenchmarkSessionReceive is the receive goroutine's per-packet path: check
// the source, parse RTP, feed telephone events to the DTMF decoder.
func BenchmarkSessionReceive(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	s, err := e.NewSession(quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := newPeer(peer.addr(), CodecPCMU, 101)
	if err != nil {
		b.Fatal(err)
	}
	s.peer.Store(p) // as Start, without the receive goroutine

	audio := make([]byte, RTPHeaderSize+samplesPerFrame)
	(&RTPHeader{PayloadType: 0, SSRC: 7}).MarshalTo(audio)
	event := make([]byte, RTPHeaderSize, RTPHeaderSize+4)
	(&RTPHeader{PayloadType: 101, SSRC: 7, Timestamp: 1000}).MarshalTo(event)
	event = AppendDTMFPayload(event, 5, false, 10, 160)

	var rx rxState
	rx.dec.Feed(1000, event[RTPHeaderSize:]) // a known event: no delivery
	rx.dtmfSSRC = 7
	from := peer.addr()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i++; i%8 == 0 {
			s.handle(&rx, event, from)
		} else {
			s.handle(&rx, audio, from)
		}
	}
	if s.Stats().PacketsReceived == 0 {
		b.Fatal("nothing received")
	}
}

// BenchmarkSessionReceiveUDP adds the socket read to the receive path.
func BenchmarkSessionReceiveUDP(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	s, err := e.NewSession(quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, _ := newPeer(peer.addr(), CodecPCMU, 101)
	s.peer.Store(p)
	pkt := make([]byte, RTPHeaderSize+samplesPerFrame)
	(&RTPHeader{PayloadType: 0, SSRC: 7}).MarshalTo(pkt)
	buf := make([]byte, readBufferSize)
	dst := s.LocalAddr()
	var rx rxState
	b.ReportAllocs()
	for b.Loop() {
		if _, err := peer.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			b.Fatal(err)
		}
		s.handle(&rx, buf[:n], from)
	}
}

// BenchmarkPacer runs many concurrent sessions playing at once and reports
// the pacing of the packets (|interval - 20ms| between kernel receive
// timestamps of a sample of the sessions), the memory and the goroutines per
// session.
func BenchmarkPacer(b *testing.B) {
	for _, n := range []int{50, 500, 2000} {
		b.Run(itoa(n), func(b *testing.B) {
			for b.Loop() {
				benchmarkPacer(b, n, 2*time.Second)
			}
		})
	}
}

func benchmarkPacer(b *testing.B, n int, d time.Duration) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()

	e, err := NewEndpoint(EndpointConfig{IP: loopback, PortMin: 40000, PortMax: 40000 + 2*n + 100, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	rx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(8 << 20)
	remote := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	// Only every stride-th session sends to the measuring socket, so reading
	// does not eat the CPU the pacers are measured on; the others send to a
	// sink nobody reads (the kernel drops at the same sender cost).
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	stride := max(1, n/100)

	clip := ramp(int(d/frameDuration) * samplesPerFrame)
	sessions := make([]*Session, n)
	index := make(map[uint16]int, n) // local port -> session
	for i := range sessions {
		s, err := e.NewSession(quietLogger())
		if err != nil {
			b.Fatal(err)
		}
		dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
		if i%stride == 0 {
			dst = remote
		}
		if err := s.Start(dst, CodecPCMU, 101); err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
		index[s.LocalAddr().Port()] = i
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perSession := float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / float64(n)
	goroutines := float64(runtime.NumGoroutine()-goroutinesBefore) / float64(n)

	var wg sync.WaitGroup
	last := make([]time.Time, n)
	var deltas []time.Duration
	// Kernel receive timestamps: the time the datagram arrived, not the
	// time this goroutine got to read it.
	raw, err := rx.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() {
		buf := make([]byte, 1500)
		oob := make([]byte, 128)
		for {
			rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, oobn, _, from, err := rx.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return
			}
			at, ok := rxTimestamp(oob[:oobn])
			if !ok {
				continue
			}
			i := index[from.Port()]
			if !last[i].IsZero() {
				dt := at.Sub(last[i]) - frameDuration
				deltas = append(deltas, max(dt, -dt))
			}
			last[i] = at
		}
	})
	for _, s := range sessions {
		s.Play([]Clip{{Samples: clip}})
	}
	wg.Wait()
	for _, s := range sessions {
		s.Close()
	}
	if len(deltas) == 0 {
		b.Fatal("no packets")
	}
	slices.Sort(deltas)
	p := func(q float64) float64 {
		return float64(deltas[int(q*float64(len(deltas)-1))]) / float64(time.Millisecond)
	}
	want := (n + stride - 1) / stride * (int(d/frameDuration) - 1)
	b.ReportMetric(p(0.50), "p50-jitter-ms")
	b.ReportMetric(p(0.99), "p99-jitter-ms")
	b.ReportMetric(p(1), "max-jitter-ms")
	b.ReportMetric(float64(len(deltas))/float64(want), "delivered")
	b.ReportMetric(perSession, "B/session")
	b.ReportMetric(goroutines, "goroutines/session")
}

func rxTimestamp(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

func itoa(n int) string {
	return string(rune('0'+n/1000%10)) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

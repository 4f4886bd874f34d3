package media

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value reports its bucket bound", []time.Duration{80 * us}, 0.5, 80 * us},
		{"bound above max is capped by max", []time.Duration{10 * us, 60 * us}, 1, 60 * us},
		{"median of low values", []time.Duration{10 * us, 20 * us, 30 * us, 3 * time.Millisecond}, 0.5, 25 * us},
		{"median in a bucket above max is max", []time.Duration{10 * us, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond}, 0.5, 3 * time.Millisecond},
		{"quantile rank rounds down", []time.Duration{10 * us, 20 * us, 30 * us, 3 * time.Millisecond}, 0.99, 50 * us},
		{"above the last bound reports max", []time.Duration{10 * us, 45 * time.Millisecond}, 1, 45 * time.Millisecond},
		{"q above 1 is 1", []time.Duration{10 * us, 600 * us}, 7, 600 * us},
		{"q below 0 is 0", []time.Duration{10 * us, 600 * us}, -1, 25 * us},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c pacerCounters
			for _, v := range tt.values {
				c.observe(v, v)
			}
			var s PacerStats
			c.addTo(&s)
			if s.Ticks != uint64(len(tt.values)) || s.Lateness.Total() != s.Ticks || s.Busy.Total() != s.Ticks {
				t.Fatalf("ticks %d, lateness total %d, busy total %d, want %d", s.Ticks, s.Lateness.Total(), s.Busy.Total(), len(tt.values))
			}
			if got := s.Lateness.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestHistogramSub(t *testing.T) {
	var c pacerCounters
	c.observe(10*time.Microsecond, time.Millisecond)
	var before PacerStats
	c.addTo(&before)
	c.observe(3*time.Millisecond, 3*time.Millisecond)
	c.observe(3*time.Millisecond, 3*time.Millisecond)
	var after PacerStats
	c.addTo(&after)
	d := after.Lateness.Sub(before.Lateness)
	if d.Total() != 2 {
		t.Fatalf("total since = %d, want 2", d.Total())
	}
	if got := d.Quantile(0); got != 3*time.Millisecond {
		t.Errorf("min since = %v, want 3ms (the earlier 10µs must be gone)", got)
	}
}

// TestPacerStats checks the pacers count their ticks and that their
// schedules are staggered over the frame.
func TestPacerStats(t *testing.T) {
	e := newTestEndpoint(t, 0)
	if len(e.pacers) < pacerPhases {
		t.Fatalf("%d pacers, want at least %d", len(e.pacers), pacerPhases)
	}
	seen := map[time.Duration]bool{}
	for _, p := range e.pacers {
		off := p.start.Sub(e.start)
		if off < 0 || off >= frameDuration || seen[off] {
			t.Errorf("pacer phase %v: outside the frame or shared", off)
		}
		seen[off] = true
	}
	time.Sleep(10 * frameDuration)
	s := e.PacerStats()
	// Every pacer wakes once per frame; allow for a slow start.
	if min := uint64(len(e.pacers)) * 5; s.Ticks < min {
		t.Errorf("ticks = %d after 10 frames, want >= %d", s.Ticks, min)
	}
	if s.Lateness.Total() != s.Ticks || s.Busy.Total() != s.Ticks {
		t.Errorf("histogram totals %d/%d, want %d", s.Lateness.Total(), s.Busy.Total(), s.Ticks)
	}
}

// TestPacketWriter sends through the raw writer over IPv4 and IPv6 and
// checks the datagram arrives intact from the session's port.
func TestPacketWriter(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			addr := netip.MustParseAddr(ip)
			network := "udp4"
			if addr.Is6() {
				network = "udp6"
			}
			src, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
			if err != nil {
				t.Fatalf("listen on %s loopback: %v", ip, err)
			}
			defer src.Close()
			dst, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			p, err := newPeer(dst.LocalAddr().(*net.UDPAddr).AddrPort(), CodecPCMU, 101)
			if err != nil {
				t.Fatal(err)
			}
			var w packetWriter
			for i := range 3 {
				pkt := []byte{0x80, 0, 0, byte(i)}
				if err := w.send(src, pkt, p); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				dst.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 64)
				n, from, err := dst.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				if string(buf[:n]) != string(pkt) {
					t.Errorf("packet %d = %x, want %x", i, buf[:n], pkt)
				}
				if want := src.LocalAddr().(*net.UDPAddr).AddrPort(); from.Port() != want.Port() {
					t.Errorf("from port %d, want %d", from.Port(), want.Port())
				}
			}
			src.Close()
			if err := w.send(src, []byte{0x80}, p); err == nil {
				t.Error("send on a closed socket: no error")
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPcap builds capture files for the tests.
type testPcap struct {
	order binary.ByteOrder
	nano  bool
	link  uint32
	buf   bytes.Buffer
}

func newTestPcap(order binary.ByteOrder, nano bool, link uint32) *testPcap {
	p := &testPcap{order: order, nano: nano, link: link}
	var h [24]byte
	magic := uint32(pcapMagicMicro)
	if nano {
		magic = pcapMagicNano
	}
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], link)
	p.buf.Write(h[:])
	return p
}

// udp appends a UDP datagram over IPv4 (or IPv6) on the capture's link,
// keeping at most snap bytes of the frame (0: all).
func (p *testPcap) udp(at time.Time, src, dst netip.AddrPort, payload []byte, snap int) {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	var ip []byte
	ethertype := uint16(0x0800)
	if src.Addr().Is4() {
		ip = make([]byte, 20, 20+len(udp))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		ip[8], ip[9] = 64, 17
		a, b := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], a[:])
		copy(ip[16:], b[:])
	} else {
		ethertype = 0x86dd
		ip = make([]byte, 40, 40+len(udp))
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
		ip[6], ip[7] = 17, 64
		a, b := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:], a[:])
		copy(ip[24:], b[:])
	}
	ip = append(ip, udp...)
	var frame []byte
	switch p.link {
	case linkEthernet:
		frame = make([]byte, 14)
		binary.BigEndian.PutUint16(frame[12:], ethertype)
	case linkLinuxSLL:
		frame = make([]byte, 16)
		binary.BigEndian.PutUint16(frame[14:], ethertype)
	case linkRaw:
	}
	frame = append(frame, ip...)
	orig := len(frame)
	if snap > 0 && len(frame) > snap {
		frame = frame[:snap]
	}
	var rec [16]byte
	frac := at.Nanosecond() / 1000
	if p.nano {
		frac = at.Nanosecond()
	}
	p.order.PutUint32(rec[0:], uint32(at.Unix()))
	p.order.PutUint32(rec[4:], uint32(frac))
	p.order.PutUint32(rec[8:], uint32(len(frame)))
	p.order.PutUint32(rec[12:], uint32(orig))
	p.buf.Write(rec[:])
	p.buf.Write(frame)
}

func (p *testPcap) write(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cap.pcap")
	if err := os.WriteFile(path, p.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, b []byte) []udpPacket {
	t.Helper()
	r, err := newPcapReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []udpPacket
	for {
		pk, err := r.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pk.Payload = bytes.Clone(pk.Payload)
		out = append(out, pk)
	}
}

func TestPcapReader(t *testing.T) {
	at := time.Unix(1_800_000_000, 123_456_789)
	a4, b4 := netip.MustParseAddrPort("127.0.0.1:27064"), netip.MustParseAddrPort("127.0.0.1:10002")
	a6, b6 := netip.MustParseAddrPort("[::1]:5060"), netip.MustParseAddrPort("[::1]:5062")
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		nano  bool
		link  uint32
		want  time.Duration // timestamp precision
	}{
		{"ethernet µs little endian", binary.LittleEndian, false, linkEthernet, time.Microsecond},
		{"ethernet ns big endian", binary.BigEndian, true, linkEthernet, time.Nanosecond},
		{"linux cooked", binary.LittleEndian, true, linkLinuxSLL, time.Nanosecond},
		{"raw ip", binary.LittleEndian, true, linkRaw, time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPcap(tc.order, tc.nano, tc.link)
			p.udp(at, a4, b4, []byte("hello"), 0)
			p.udp(at.Add(20*time.Millisecond), b6, a6, []byte("world"), 0)
			got := readAll(t, p.buf.Bytes())
			if len(got) != 2 {
				t.Fatalf("read %d packets, want 2", len(got))
			}
			if !got[0].At.Equal(at.Truncate(tc.want)) || got[0].Src != a4 || got[0].Dst != b4 || string(got[0].Payload) != "hello" {
				t.Errorf("first packet = %v %v>%v %q", got[0].At, got[0].Src, got[0].Dst, got[0].Payload)
			}
			if got[1].Src != b6 || got[1].Dst != a6 || string(got[1].Payload) != "world" {
				t.Errorf("second packet = %v>%v %q", got[1].Src, got[1].Dst, got[1].Payload)
			}
		})
	}
}

func TestPcapReaderSnapAndCut(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	a, b := netip.MustParseAddrPort("127.0.0.1:1000"), netip.MustParseAddrPort("127.0.0.1:2000")
	p := newTestPcap(binary.LittleEndian, true, linkEthernet)
	p.udp(at, a, b, make([]byte, 172), 54) // headers and 12 bytes: an RTP header
	p.udp(at, a, b, []byte("last"), 0)
	data := p.buf.Bytes()
	got := readAll(t, data[:len(data)-3]) // the capture stopped while writing
	if len(got) != 1 {
		t.Fatalf("read %d packets, want 1 (the cut one dropped)", len(got))
	}
	if !got[0].Truncated || len(got[0].Payload) != 12 {
		t.Errorf("snapped packet: truncated %v, %d bytes of payload, want true, 12", got[0].Truncated, len(got[0].Payload))
	}
}

func TestPcapReaderRejects(t *testing.T) {
	if _, err := newPcapReader(bytes.NewReader([]byte("\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a a pcapng section"))); !errors.Is(err, errNotPcap) {
		t.Errorf("pcapng: err = %v, want errNotPcap", err)
	}
	p := newTestPcap(binary.LittleEndian, false, 105) // 802.11
	if _, err := newPcapReader(bytes.NewReader(p.buf.Bytes())); err == nil {
		t.Error("unknown link type accepted")
	}
	p = newTestPcap(binary.LittleEndian, false, linkEthernet)
	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[8:], 1<<30)
	p.buf.Write(rec[:])
	r, err := newPcapReader(bytes.NewReader(p.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("huge record: err = %v, want an error", err)
	}
}

func FuzzPcapReader(f *testing.F) {
	p := newTestPcap(binary.LittleEndian, true, linkEthernet)
	p.udp(time.Unix(1, 0), netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), []byte("x"), 0)
	f.Add(p.buf.Bytes())
	p = newTestPcap(binary.BigEndian, false, linkLinuxSLL)
	p.udp(time.Unix(1, 0), netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::1]:2"), []byte("y"), 30)
	f.Add(p.buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := newPcapReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 1000 {
			pk, err := r.next()
			if err != nil {
				return
			}
			if !pk.Src.IsValid() || !pk.Dst.IsValid() {
				t.Fatalf("packet without addresses: %+v", pk)
			}
		}
	})
}

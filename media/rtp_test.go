package media

import (
	"bytes"
	"errors"
	"testing"
)

func TestRTPMarshalParse(t *testing.T) {
	tests := []RTPHeader{
		{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 0xdeadbeef},
		{Marker: true, PayloadType: 8, SequenceNumber: 0xFFFF, Timestamp: 0xFFFFFFFF, SSRC: 1},
		{Marker: true, PayloadType: 101, SequenceNumber: 0, Timestamp: 0, SSRC: 0},
	}
	for _, h := range tests {
		buf := make([]byte, RTPHeaderSize+3)
		n, err := h.MarshalTo(buf)
		if err != nil || n != RTPHeaderSize {
			t.Fatalf("MarshalTo = %d, %v", n, err)
		}
		copy(buf[n:], "abc")
		got, payload, err := ParseRTP(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got != h {
			t.Errorf("parsed %+v, want %+v", got, h)
		}
		if string(payload) != "abc" {
			t.Errorf("payload %q, want abc", payload)
		}
	}
	var h RTPHeader
	if _, err := h.MarshalTo(make([]byte, 11)); !errors.Is(err, ErrShortPacket) {
		t.Errorf("short buffer: err = %v", err)
	}
}

// Hand-built packets with the optional parts of RFC 3550.
func TestParseRTP(t *testing.T) {
	base := []byte{0x80, 0x80 | 8, 0x12, 0x34, 0, 0, 0x01, 0x00, 1, 2, 3, 4}
	with := func(b0 byte, rest ...byte) []byte {
		p := append([]byte{b0}, base[1:]...)
		return append(p, rest...)
	}
	tests := []struct {
		name    string
		in      []byte
		payload []byte
		err     error
	}{
		{"plain", with(0x80, 'x', 'y'), []byte("xy"), nil},
		{"csrc", with(0x82, 0, 0, 0, 1, 0, 0, 0, 2, 'p'), []byte("p"), nil},
		{"extension", with(0x90, 0xBE, 0xDE, 0, 1, 1, 2, 3, 4, 'p'), []byte("p"), nil},
		{"padding", with(0xA0, 'p', 'q', 0, 0, 3), []byte("pq"), nil},
		{"empty payload", with(0x80), []byte{}, nil},
		{"too short", base[:11], nil, ErrShortPacket},
		{"version 1", with(0x40, 'x'), nil, ErrRTPVersion},
		{"csrc beyond end", with(0x83, 0, 0, 0, 1), nil, ErrShortPacket},
		{"extension header beyond end", with(0x90, 0xBE), nil, ErrShortPacket},
		{"extension beyond end", with(0x90, 0xBE, 0xDE, 0, 2, 1, 2, 3, 4), nil, ErrShortPacket},
		{"zero padding", with(0xA0, 'p', 0), nil, ErrShortPacket},
		{"padding beyond payload", with(0xA0, 'p', 9), nil, ErrShortPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := ParseRTP(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(payload, tt.payload) {
				t.Errorf("payload %q, want %q", payload, tt.payload)
			}
			want := RTPHeader{Marker: true, PayloadType: 8, SequenceNumber: 0x1234, Timestamp: 0x100, SSRC: 0x01020304}
			if h != want {
				t.Errorf("header %+v, want %+v", h, want)
			}
		})
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xFF, 0xFF})
	f.Add([]byte{0xB1, 0xE5, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xFF, 0xFF, 0, 0, 9, 0, 0, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, payload, err := ParseRTP(in)
		if err != nil {
			return
		}
		if len(payload) > len(in)-RTPHeaderSize {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(payload), len(in))
		}
		// Re-marshalling keeps the header fields.
		buf := make([]byte, RTPHeaderSize)
		if _, err := h.MarshalTo(buf); err != nil {
			t.Fatal(err)
		}
		h2, _, err := ParseRTP(buf)
		if err != nil || h2 != h {
			t.Fatalf("round trip %+v -> %+v, %v", h, h2, err)
		}
	})
}

func BenchmarkRTPMarshalParse(b *testing.B) {
	buf := make([]byte, RTPHeaderSize+samplesPerFrame)
	h := RTPHeader{PayloadType: 0, SSRC: 0x12345678}
	b.ReportAllocs()
	for b.Loop() {
		h.SequenceNumber++
		h.Timestamp += samplesPerFrame
		if _, err := h.MarshalTo(buf); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ParseRTP(buf); err != nil {
			b.Fatal(err)
		}
	}
}

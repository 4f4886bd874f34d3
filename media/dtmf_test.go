package media

import (
	"testing"
)

// tePacket is one telephone-event packet as a sender emits it.
type tePacket struct {
	ts       uint32
	event    uint8
	end      bool
	duration uint16
}

// keyPress returns the packets an RFC 4733 sender emits for one key: a
// start packet, updates every 20 ms (160 units) and three end packets.
func keyPress(ts uint32, event uint8, updates int) []tePacket {
	var ps []tePacket
	d := uint16(160)
	for range updates + 1 {
		ps = append(ps, tePacket{ts, event, false, d})
		d += 160
	}
	for range 3 {
		ps = append(ps, tePacket{ts, event, true, d})
	}
	return ps
}

func TestDTMFDecoder(t *testing.T) {
	seq := func(parts ...[]tePacket) []tePacket {
		var out []tePacket
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		packets []tePacket
		want    string
	}{
		{"one key", keyPress(1000, 5, 4), "5"},
		{"all keys", func() []tePacket {
			var ps []tePacket
			for e := range uint8(16) {
				ps = append(ps, keyPress(uint32(e)*8000, e, 2)...)
			}
			return ps
		}(), "0123456789*#ABCD"},
		{"same key twice", seq(keyPress(1000, 1, 3), keyPress(9000, 1, 3)), "11"},
		{"lost first packet", keyPress(1000, 7, 4)[1:], "7"},
		{"only end packets", keyPress(1000, 9, 4)[5:], "9"},
		{"single end packet", []tePacket{{1000, 11, true, 800}}, "#"},
		{"late packet of previous event", seq(keyPress(1000, 2, 2), keyPress(9000, 3, 2), keyPress(1000, 2, 0)[3:]), "23"},
		{"flash event ignored", seq(keyPress(1000, 16, 2), keyPress(5000, 4, 2)), "4"},
		{"timestamp wraps", seq(keyPress(0xFFFFFF00, 1, 2), keyPress(0x100, 2, 2)), "12"},
		{"sender restarts clock", seq(keyPress(5_000_000, 1, 2), keyPress(1000, 2, 2)), "12"},
		{"lost end packets, same key again", seq(keyPress(1000, 6, 3)[:4], keyPress(9000, 6, 3)), "66"},
		// A long key press split in segments: new timestamp at the running
		// duration, same event, no end packet in between.
		{"long event segments", []tePacket{
			{1000, 8, false, 160}, {1000, 8, false, 0xFFFF},
			{1000 + 0xFFFF, 8, false, 160}, {1000 + 0xFFFF, 8, true, 400},
		}, "8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTMFDecoder
			var got []rune
			for _, p := range tt.packets {
				if r, ok := d.Feed(p.ts, AppendDTMFPayload(nil, p.event, p.end, 10, p.duration)); ok {
					got = append(got, r)
				}
			}
			if string(got) != tt.want {
				t.Errorf("digits %q, want %q", string(got), tt.want)
			}
		})
	}
}

func TestDTMFDecoderVolumeIgnored(t *testing.T) {
	for _, vol := range []uint8{0, 10, 63} {
		var d DTMFDecoder
		if r, ok := d.Feed(500, AppendDTMFPayload(nil, 3, false, vol, 0)); !ok || r != '3' {
			t.Errorf("volume %d: got %q, %v", vol, r, ok)
		}
	}
}

func TestDTMFDecoderShortPayload(t *testing.T) {
	var d DTMFDecoder
	if _, ok := d.Feed(1, []byte{1, 2, 3}); ok {
		t.Error("3-byte payload yielded a digit")
	}
	d.Feed(1, AppendDTMFPayload(nil, 1, false, 0, 160))
	d.Reset()
	if _, ok := d.Feed(1, AppendDTMFPayload(nil, 1, false, 0, 160)); !ok {
		t.Error("after Reset the same event was not reported")
	}
}

func TestDigitEvent(t *testing.T) {
	for i, r := range "0123456789*#ABCD" {
		if e, ok := DigitEvent(r); !ok || int(e) != i {
			t.Errorf("DigitEvent(%q) = %d, %v; want %d", r, e, ok, i)
		}
	}
	if _, ok := DigitEvent('x'); ok {
		t.Error("DigitEvent('x') ok")
	}
}

func FuzzDTMFDecoder(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 5, 0x0a, 0, 160, 0, 0, 0, 0, 5, 0x8a, 1, 0})
	f.Add([]byte{0, 0, 1, 0, 16, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		// Packets of 8 bytes: timestamp, then a 4-byte payload.
		var d DTMFDecoder
		for len(in) >= 8 {
			ts := uint32(in[0])<<24 | uint32(in[1])<<16 | uint32(in[2])<<8 | uint32(in[3])
			r, ok := d.Feed(ts, in[4:8])
			if ok {
				if _, valid := DigitEvent(r); !valid {
					t.Fatalf("invalid digit %q", r)
				}
				// A repeat of the same packet never yields a second digit.
				if _, again := d.Feed(ts, in[4:8]); again {
					t.Fatal("same packet reported twice")
				}
			}
			in = in[8:]
		}
		d.Feed(0, in)
	})
}

func BenchmarkDTMFDecode(b *testing.B) {
	// A key press of 14 packets, repeated with a new timestamp each time.
	ps := keyPress(0, 5, 10)
	payloads := make([][]byte, len(ps))
	for i, p := range ps {
		payloads[i] = AppendDTMFPayload(nil, p.event, p.end, 10, p.duration)
	}
	var d DTMFDecoder
	digits := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := d.Feed(uint32(i/len(ps))*8000, payloads[i%len(ps)]); ok {
			digits++
		}
		i++
	}
	if want := (i + len(ps) - 1) / len(ps); digits != want {
		b.Fatalf("%d digits for %d key presses", digits, want)
	}
}

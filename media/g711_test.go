package media

import (
	"math"
	"testing"
)

func TestG711KnownValues(t *testing.T) {
	tests := []struct {
		name   string
		sample int16
		ulaw   byte
		alaw   byte
	}{
		{"zero", 0, 0xFF, 0xD5},
		{"minus one", -1, 0x7F, 0x55},
		{"max", math.MaxInt16, 0x80, 0xAA},
		{"min", math.MinInt16, 0x00, 0x2A},
		{"small positive", 100, 0xF2, 0xD3},
		{"small negative", -100, 0x73, 0x53},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u, a [1]byte
			EncodeUlaw(u[:], []int16{tt.sample})
			EncodeAlaw(a[:], []int16{tt.sample})
			if u[0] != tt.ulaw {
				t.Errorf("ulaw(%d) = %#02x, want %#02x", tt.sample, u[0], tt.ulaw)
			}
			if a[0] != tt.alaw {
				t.Errorf("alaw(%d) = %#02x, want %#02x", tt.sample, a[0], tt.alaw)
			}
		})
	}
}

func TestG711Decode(t *testing.T) {
	tests := []struct {
		code       byte
		ulaw, alaw int16
	}{
		{0xFF, 0, 848},
		{0x7F, 0, -848},
		{0x80, 32124, 5504},
		{0x00, -32124, -5504},
		{0xD5, 716, 8},
		{0x55, -716, -8},
		{0xAA, 5372, 32256},
		{0x2A, -5372, -32256},
	}
	for _, tt := range tests {
		var u, a [1]int16
		DecodeUlaw(u[:], []byte{tt.code})
		DecodeAlaw(a[:], []byte{tt.code})
		if u[0] != tt.ulaw {
			t.Errorf("DecodeUlaw(%#02x) = %d, want %d", tt.code, u[0], tt.ulaw)
		}
		if a[0] != tt.alaw {
			t.Errorf("DecodeAlaw(%#02x) = %d, want %d", tt.code, a[0], tt.alaw)
		}
	}
}

// Decoding a code and encoding the result must give the code back (except
// μ-law's negative zero, which encodes as positive zero).
func TestG711RoundTripCodes(t *testing.T) {
	for c := range 256 {
		code := byte(c)
		var s [1]int16
		var b [1]byte

		DecodeUlaw(s[:], []byte{code})
		EncodeUlaw(b[:], s[:])
		if b[0] != code && !(code == 0x7F && b[0] == 0xFF) {
			t.Errorf("ulaw %#02x -> %d -> %#02x", code, s[0], b[0])
		}
		DecodeAlaw(s[:], []byte{code})
		EncodeAlaw(b[:], s[:])
		if b[0] != code {
			t.Errorf("alaw %#02x -> %d -> %#02x", code, s[0], b[0])
		}
	}
}

// Every sample must survive encode+decode within the law's step size, which
// grows with the magnitude (about 1/16 of it, plus the smallest step).
func TestG711RoundTripSamples(t *testing.T) {
	laws := []struct {
		name string
		enc  func([]byte, []int16) int
		dec  func([]int16, []byte) int
		clip int
	}{
		{"ulaw", EncodeUlaw, DecodeUlaw, 32124},
		{"alaw", EncodeAlaw, DecodeAlaw, 32256},
	}
	for _, law := range laws {
		t.Run(law.name, func(t *testing.T) {
			src := make([]int16, 0, 1<<16)
			for v := math.MinInt16; v <= math.MaxInt16; v++ {
				src = append(src, int16(v))
			}
			enc := make([]byte, len(src))
			dec := make([]int16, len(src))
			if n := law.enc(enc, src); n != len(src) {
				t.Fatalf("encode wrote %d, want %d", n, len(src))
			}
			if n := law.dec(dec, enc); n != len(src) {
				t.Fatalf("decode wrote %d, want %d", n, len(src))
			}
			prev := math.MinInt32
			for i, s := range src {
				want := max(-law.clip, min(law.clip, int(s)))
				diff := abs(int(dec[i]) - want)
				if diff > abs(want)/16+16 {
					t.Fatalf("%d -> %d: error %d too large", s, dec[i], diff)
				}
				if int(dec[i]) < prev {
					t.Fatalf("%d -> %d: decoded value not monotonic (prev %d)", s, dec[i], prev)
				}
				prev = int(dec[i])
			}
		})
	}
}

func TestG711ShortBuffers(t *testing.T) {
	src := []int16{1, 2, 3, 4}
	dst := make([]byte, 2)
	if n := EncodeUlaw(dst, src); n != 2 {
		t.Errorf("EncodeUlaw n = %d, want 2", n)
	}
	if n := EncodeAlaw(dst, src[:1]); n != 1 {
		t.Errorf("EncodeAlaw n = %d, want 1", n)
	}
	if n := DecodeUlaw(make([]int16, 3), []byte{1, 2}); n != 2 {
		t.Errorf("DecodeUlaw n = %d, want 2", n)
	}
	if n := DecodeAlaw(nil, []byte{1, 2}); n != 0 {
		t.Errorf("DecodeAlaw n = %d, want 0", n)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func BenchmarkEncodeUlaw(b *testing.B) {
	src := make([]int16, samplesPerFrame)
	for i := range src {
		src[i] = int16(i * 199)
	}
	dst := make([]byte, samplesPerFrame)
	b.ReportAllocs()
	b.SetBytes(samplesPerFrame)
	for b.Loop() {
		EncodeUlaw(dst, src)
	}
}

func BenchmarkEncodeAlaw(b *testing.B) {
	src := make([]int16, samplesPerFrame)
	for i := range src {
		src[i] = int16(i * 199)
	}
	dst := make([]byte, samplesPerFrame)
	b.ReportAllocs()
	b.SetBytes(samplesPerFrame)
	for b.Loop() {
		EncodeAlaw(dst, src)
	}
}

func BenchmarkDecodeUlaw(b *testing.B) {
	src := make([]byte, samplesPerFrame)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, samplesPerFrame)
	b.ReportAllocs()
	b.SetBytes(samplesPerFrame)
	for b.Loop() {
		DecodeUlaw(dst, src)
	}
}

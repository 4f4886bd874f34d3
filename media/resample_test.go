package media

import (
	"math"
	"testing"
)

func tone(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// level returns the amplitude of the freq component of x (sampled at rate),
// by correlation over the middle of the signal, away from the edges.
func level(x []int16, freq float64, rate int) float64 {
	lo, hi := len(x)/4, 3*len(x)/4
	var re, im float64
	for i := lo; i < hi; i++ {
		a := 2 * math.Pi * freq * float64(i) / float64(rate)
		re += float64(x[i]) * math.Cos(a)
		im += float64(x[i]) * math.Sin(a)
	}
	return 2 * math.Hypot(re, im) / float64(hi-lo)
}

func rms(x []int16) float64 {
	lo, hi := len(x)/4, 3*len(x)/4
	var s float64
	for _, v := range x[lo:hi] {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(hi-lo))
}

func db(x float64) float64 { return 20 * math.Log10(x) }

func TestResampleKeepsFrequency(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64
	}{
		{22050, 8000, 1000},
		{22050, 8000, 3000},
		{16000, 8000, 440},
		{44100, 8000, 2000},
		{8000, 16000, 1000},
	}
	const amp = 10000
	for _, tt := range tests {
		in := tone(tt.freq, tt.from, tt.from, amp) // one second
		out := Resample(in, tt.from, tt.to)
		if want := tt.to; len(out) != want {
			t.Fatalf("%d->%d: got %d samples, want %d", tt.from, tt.to, len(out), want)
		}
		got := level(out, tt.freq, tt.to)
		if math.Abs(db(got/amp)) > 0.5 {
			t.Errorf("%d->%d: %g Hz tone at %.2f dB, want 0 ± 0.5 dB", tt.from, tt.to, tt.freq, db(got/amp))
		}
		// Nearly all the energy must be at that frequency.
		if r := rms(out) * math.Sqrt2; math.Abs(db(got/r)) > 0.2 {
			t.Errorf("%d->%d: tone is %.2f dB of the total, want ~0", tt.from, tt.to, db(got/r))
		}
	}
}

// A 6 kHz tone cannot exist at 8 kHz: it must be filtered out, not folded to
// 2 kHz.
func TestResampleNoAliasing(t *testing.T) {
	const amp = 16000
	for _, freq := range []float64{4500, 6000, 9000} {
		in := tone(freq, 22050, 22050, amp)
		out := Resample(in, 22050, 8000)
		alias := math.Abs(8000 - freq)
		if freq > 8000 {
			alias = freq - 8000
		}
		if got := db(level(out, alias, 8000) / amp); got > -40 {
			t.Errorf("%g Hz: alias at %g Hz is %.1f dB, want below -40 dB", freq, alias, got)
		}
		if got := db(rms(out) * math.Sqrt2 / amp); got > -40 {
			t.Errorf("%g Hz: output level %.1f dB, want below -40 dB", freq, got)
		}
	}
}

func TestResampleEdgeCases(t *testing.T) {
	if got := Resample(nil, 22050, 8000); len(got) != 0 {
		t.Errorf("empty input: got %d samples", len(got))
	}
	if got := Resample([]int16{1, 2}, 0, 8000); got != nil {
		t.Errorf("zero rate: got %v", got)
	}
	in := []int16{1, 2, 3}
	got := Resample(in, 8000, 8000)
	got[0] = 9
	if in[0] != 1 {
		t.Error("same rate must copy")
	}
	// A full-scale constant must not overflow.
	dc := make([]int16, 2000)
	for i := range dc {
		dc[i] = math.MaxInt16
	}
	for _, v := range Resample(dc, 22050, 8000)[100:600] {
		if v < math.MaxInt16-2 {
			t.Fatalf("full-scale DC became %d", v)
		}
	}
}

func BenchmarkResample(b *testing.B) {
	in := tone(1000, 22050, 22050, 10000)
	b.ReportAllocs()
	for b.Loop() {
		Resample(in, 22050, 8000)
	}
}

package media

import (
	"math"
	"sync"
)

// Resampling converts audio from text to speech (22.05 kHz for espeak-ng) or
// admin-supplied files to the 8 kHz of telephony. It is a polyphase
// windowed-sinc low-pass FIR: the cut-off sits just below the lower Nyquist
// frequency so that nothing above 4 kHz folds back into the band as
// aliasing, and a Kaiser window keeps the stop band below -80 dB.

const (
	// resampleAtten is the stop-band attenuation the filter is designed
	// for, in dB.
	resampleAtten = 80
	// resampleBand is the share of the lower Nyquist frequency passed
	// untouched; the transition band spans the rest.
	resampleBand = 0.85
)

// Resample converts mono PCM16 samples from one sample rate to another. It
// returns a new slice of len(in)*to/from samples; in is not modified.
// Invalid rates return nil.
func Resample(in []int16, from, to int) []int16 {
	if from <= 0 || to <= 0 {
		return nil
	}
	if from == to {
		return append([]int16(nil), in...)
	}
	f := resampler(from, to)
	n := int(int64(len(in)) * int64(to) / int64(from))
	out := make([]int16, n)
	taps := 2 * f.half
	for k := range out {
		// Output sample k sits at input position k*from/to = k*m/l.
		pos := int64(k) * int64(f.m)
		base := int(pos / int64(f.l))
		phase := f.coef[int(pos%int64(f.l))*taps : (int(pos%int64(f.l))+1)*taps]
		start := base - f.half + 1
		var acc float64
		for j, c := range phase {
			i := start + j
			if i < 0 || i >= len(in) {
				continue
			}
			acc += c * float64(in[i])
		}
		out[k] = clip16(acc)
	}
	return out
}

func clip16(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// polyphase is the filter for one rate pair: l phases of 2*half taps each.
type polyphase struct {
	l, m int // to/g, from/g
	half int
	coef []float64
}

var filters sync.Map // [2]int{from, to} -> *polyphase

func resampler(from, to int) *polyphase {
	key := [2]int{from, to}
	if f, ok := filters.Load(key); ok {
		return f.(*polyphase)
	}
	f, _ := filters.LoadOrStore(key, designPolyphase(from, to))
	return f.(*polyphase)
}

func designPolyphase(from, to int) *polyphase {
	g := gcd(from, to)
	p := &polyphase{l: to / g, m: from / g}
	nyq := 0.5 * float64(min(from, to))
	cutoff := nyq * (1 + resampleBand) / 2 // middle of the transition band
	trans := nyq * (1 - resampleBand)      // its width, in Hz
	// Kaiser's estimate of the length, in input samples.
	length := (resampleAtten - 7.95) / (2.285 * 2 * math.Pi * trans / float64(from))
	p.half = int(math.Ceil(length/2)) + 1
	beta := 0.1102 * (resampleAtten - 8.7)
	taps := 2 * p.half
	p.coef = make([]float64, p.l*taps)
	fc := cutoff / float64(from) // normalised to the input rate
	for ph := 0; ph < p.l; ph++ {
		frac := float64(ph) / float64(p.l)
		row := p.coef[ph*taps : (ph+1)*taps]
		var sum float64
		for j := range row {
			// Distance from the output instant to input sample start+j.
			d := frac + float64(p.half-1-j)
			x := d / float64(p.half)
			if x <= -1 || x >= 1 {
				continue
			}
			row[j] = 2 * fc * sinc(2*fc*d) * bessel0(beta*math.Sqrt(1-x*x))
			sum += row[j]
		}
		// Unit gain at DC for every phase, so silence stays silent and a
		// constant stays constant.
		for j := range row {
			row[j] /= sum
		}
	}
	return p
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// bessel0 is the modified Bessel function of the first kind, order 0, by its
// power series.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

package siptest

import "math"

// ToneShare is the share of the energy of 8 kHz samples that lies at freq
// (Hz), measured over 20 ms blocks with the Goertzel algorithm: about 1
// for a clean tone at a multiple of 50 Hz, near 0 for silence, noise or
// another frequency. It tells whose audio reached a leg.
func ToneShare(samples []int16, freq float64) float64 {
	const block = samplesPerFrame // 20 ms: bins every 50 Hz
	coeff := 2 * math.Cos(2*math.Pi*freq/8000)
	var atFreq, total float64
	for start := 0; start+block <= len(samples); start += block {
		var s1, s2, energy float64
		for _, v := range samples[start : start+block] {
			x := float64(v)
			s0 := x + coeff*s1 - s2
			s2, s1 = s1, s0
			energy += x * x
		}
		power := s1*s1 + s2*s2 - coeff*s1*s2
		atFreq += 2 * power / block
		total += energy
	}
	if total == 0 {
		return 0
	}
	return atFreq / total
}

// Level is the RMS of samples, 0 for none.
func Level(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(samples)))
}

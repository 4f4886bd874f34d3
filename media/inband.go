package media

import (
	"math"
	"time"
)

// In-band DTMF: some gateways send key presses as audio tones in the call's
// G.711 stream and negotiate no telephone-event. ToneDetector finds them
// with the Goertzel algorithm on the eight DTMF frequencies.
//
// The analysis window is 102 samples (12.75 ms at 8 kHz), whose frequency
// bins are 78 Hz wide: the neighbours of each DTMF frequency (73 to 89 Hz
// away) fall close to the first null of its filter, and a tone 1.5% off its
// nominal frequency loses little power while one 3.5% off loses most (ITU-T
// Q.24 tolerances). The window slides by half its length, so a tone of
// 45 ms, however it falls on the packets, fills at least five windows
// entirely.

const (
	toneWindow = 102            // samples per analysis
	toneHop    = toneWindow / 2 // new samples between analyses

	// toneHits is how many analyses in a row must find a key: a window and
	// four hops, 38 ms of tone.
	toneHits = 5
	// toneGap is how many analyses without the key (silence or another
	// key) release it, so that the next press of the same key counts.
	toneGap = 2
)

// Detection thresholds, as power ratios. A tone's power is its mean square
// in PCM16 units; 0 dBm0 is the mean square of the G.711 digital milliwatt
// (a sine of peak about 22 700).
var (
	// toneMinPower is the weakest tone accepted, -30 dBm0 for each of
	// the two frequencies.
	toneMinPower = 2.58e8 * dB(-30)
	// toneMaxTwistHigh and toneMaxTwistLow bound the level difference
	// between the two tones: the high (column) tone may be up to 4 dB
	// above the low (row) one, or up to 8 dB below it, as lines attenuate
	// high frequencies more.
	toneMaxTwistHigh = dB(4)
	toneMaxTwistLow  = dB(8)
	// toneRelPeak is how far the strongest row (column) frequency must
	// stand above the other rows (columns): 8 dB.
	toneRelPeak = dB(8)
	// toneMinShare is the share of the window's power the two tones must
	// carry. A key press is two pure tones; speech and music spread their
	// power over many frequencies, even when two of their harmonics fall
	// on DTMF frequencies.
	toneMinShare = float32(0.75)
)

func dB(v float64) float32 { return float32(math.Pow(10, v/10)) }

// dtmfRows and dtmfCols are the DTMF frequencies in Hz; the key at row r,
// column c is dtmfKeys[r][c].
var (
	dtmfRows = [4]float64{697, 770, 852, 941}
	dtmfCols = [4]float64{1209, 1336, 1477, 1633}
	dtmfKeys = [4][4]rune{
		{'1', '2', '3', 'A'},
		{'4', '5', '6', 'B'},
		{'7', '8', '9', 'C'},
		{'*', '0', '#', 'D'},
	}
)

// rowCoef and colCoef hold the Goertzel coefficients 2cos(2πf/8000) of
// the rows and the columns.
var rowCoef, colCoef = coefs(dtmfRows), coefs(dtmfCols)

func coefs(freqs [4]float64) (c [4]float32) {
	for i, f := range freqs {
		c[i] = float32(2 * math.Cos(2*math.Pi*f/sampleRate))
	}
	return c
}

// ToneDetector finds DTMF key presses in 8 kHz PCM16 audio.
//
// A window counts as a key when both of its tones are above -30 dBm0, the
// twist between them is within +4/-8 dB, each stands 8 dB above the other
// frequencies of its group, and together they carry 75% of the window's
// power. A key is reported once it has been found in five analyses in a
// row (about 40 ms of tone), and only once: the same key is reported again
// only after two analyses without it (a gap of silence or another key).
//
// The zero value is ready to use. Feed does not allocate. A ToneDetector is
// not safe for concurrent use; each RTP stream has its own.
type ToneDetector struct {
	win  [toneWindow]float32 // the last toneWindow samples, oldest first
	fill int                 // samples received since the last analysis

	cand    rune // key found by the last analysis, 0 for none
	run     int  // analyses in a row that found cand
	latched rune // key reported and not yet released, 0 for none
	misses  int  // analyses in a row without latched
}

// Reset forgets all audio and state, as for a new RTP stream.
func (d *ToneDetector) Reset() { *d = ToneDetector{} }

// Feed takes the next samples of the stream, normally one 20 ms frame of
// 160 samples (any length works). It returns a key the first time it is
// confirmed, ok false otherwise. Keys are at least five analyses apart, so
// a frame of up to 255 samples (30 ms packets) holds at most one; of a
// longer frame only the first key is returned.
func (d *ToneDetector) Feed(frame []int16) (digit rune, ok bool) {
	for len(frame) > 0 {
		n := min(len(frame), toneHop-d.fill)
		dst := d.win[toneWindow-toneHop+d.fill:]
		for i, s := range frame[:n] {
			dst[i] = float32(s)
		}
		frame = frame[n:]
		if d.fill += n; d.fill < toneHop {
			break
		}
		d.fill = 0
		if key, found := d.step(analyze(&d.win)); found && !ok {
			digit, ok = key, true
		}
		copy(d.win[:], d.win[toneHop:])
	}
	return digit, ok
}

// step advances the key state machine by one analysis that found key (0
// for none) and reports a newly confirmed key.
func (d *ToneDetector) step(key rune) (rune, bool) {
	if key == d.cand {
		d.run++
	} else {
		d.cand, d.run = key, 1
	}
	if d.latched != 0 {
		if key == d.latched {
			d.misses = 0
			return 0, false
		}
		if d.misses++; d.misses < toneGap {
			return 0, false
		}
		d.latched = 0
	}
	if key == 0 || d.run < toneHits {
		return 0, false
	}
	d.latched, d.misses = key, 0
	return key, true
}

// analyze returns the key whose tones fill w, or 0.
func analyze(w *[toneWindow]float32) rune {
	// Mean square without the DC offset, which carries no tone; in float64
	// so that a large offset does not eat the precision.
	var sum, sumSq float64
	for _, x := range w {
		sum += float64(x)
		sumSq += float64(x) * float64(x)
	}
	total := float32((sumSq - sum*sum/toneWindow) / toneWindow)
	if total < 2*toneMinPower {
		return 0
	}
	rows := goertzel4(w, &rowCoef)
	cols := goertzel4(w, &colCoef)
	r, rowPower, ok := peak(&rows)
	if !ok {
		return 0
	}
	c, colPower, ok := peak(&cols)
	if !ok {
		return 0
	}
	switch {
	case rowPower < toneMinPower || colPower < toneMinPower:
		return 0
	case colPower > rowPower*toneMaxTwistHigh || rowPower > colPower*toneMaxTwistLow:
		return 0
	case rowPower+colPower < toneMinShare*total:
		return 0
	}
	return dtmfKeys[r][c]
}

// goertzel4 returns the power of w at the four frequencies of coef, as the
// mean square of a sine of that frequency: a sine of amplitude A gives
// |X|² = (A·N/2)², so A²/2 = 2|X|²/N². The four filters run in one pass: their
// recurrences are independent, so the CPU overlaps them instead of waiting
// on each one's latency.
func goertzel4(w *[toneWindow]float32, coef *[4]float32) (power [4]float32) {
	c0, c1, c2, c3 := coef[0], coef[1], coef[2], coef[3]
	var a1, a2, b1, b2, c1s, c2s, d1, d2 float32
	for _, x := range w {
		a1, a2 = (x-a2)+c0*a1, a1
		b1, b2 = (x-b2)+c1*b1, b1
		c1s, c2s = (x-c2s)+c2*c1s, c1s
		d1, d2 = (x-d2)+c3*d1, d1
	}
	const scale = 2.0 / (toneWindow * toneWindow)
	power[0] = (a1*a1 + a2*a2 - c0*a1*a2) * scale
	power[1] = (b1*b1 + b2*b2 - c1*b1*b2) * scale
	power[2] = (c1s*c1s + c2s*c2s - c2*c1s*c2s) * scale
	power[3] = (d1*d1 + d2*d2 - c3*d1*d2) * scale
	return power
}

// peak returns the strongest of four frequencies and whether it stands
// toneRelPeak above the three others.
func peak(p *[4]float32) (best int, power float32, ok bool) {
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	for i, v := range p {
		if i != best && v*toneRelPeak > p[best] {
			return best, p[best], false
		}
	}
	return best, p[best], true
}

// inbandRx is the receive goroutine's in-band detection state.
type inbandRx struct {
	tones ToneDetector
	ssrc  uint32
	pcm   [samplesPerFrame]int16 // decoded audio, reused for every packet
}

// EnableInbandDTMF turns in-band DTMF detection on or off. It runs only
// while no telephone-event payload type is negotiated (dtmfPT 0 in Start or
// SetRemote): then the received audio packets are decoded and their key
// tones delivered on DTMF with Via ViaInband. Off by default.
func (s *Session) EnableInbandDTMF(on bool) { s.inband.Store(on) }

// detectInband feeds an audio packet of the peer to the tone detector when
// in-band detection is on. It does not allocate unless it delivers a key,
// but for the detector's state on the session's first such packet.
func (s *Session) detectInband(st *rxState, p *peer, h *RTPHeader, payload []byte) {
	if p.dtmfPT != 0 || h.PayloadType != p.codec.PayloadType || !s.inband.Load() {
		return
	}
	if st.inband == nil {
		st.inband = new(inbandRx)
	}
	rx := st.inband
	if h.SSRC != rx.ssrc {
		// A new stream: its tones are not the old stream's.
		rx.tones.Reset()
		rx.ssrc = h.SSRC
	}
	for len(payload) > 0 {
		n := p.decode(rx.pcm[:], payload)
		payload = payload[n:]
		if digit, ok := rx.tones.Feed(rx.pcm[:n]); ok {
			s.deliver(DTMFEvent{Digit: digit, At: time.Now(), Via: ViaInband})
		}
	}
}

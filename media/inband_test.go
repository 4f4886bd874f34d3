package media

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dtmfFreqs returns the row and column frequencies of key.
func dtmfFreqs(t testing.TB, key rune) (row, col float64) {
	t.Helper()
	for r, keys := range dtmfKeys {
		for c, k := range keys {
			if k == key {
				return dtmfRows[r], dtmfCols[c]
			}
		}
	}
	t.Fatalf("no DTMF key %q", key)
	return 0, 0
}

// ms is a duration in samples at 8 kHz.
func ms(d int) int { return d * sampleRate / 1000 }

// amplitude is the peak of a sine at level dBm0 (0 dBm0: peak 22 700).
func amplitude(level float64) float64 { return 22700 * math.Pow(10, level/20) }

// tones returns n samples of the sum of sines at freqs, each at level dBm0.
func tones(n int, level float64, freqs ...float64) []float64 {
	out := make([]float64, n)
	a := amplitude(level)
	for i := range out {
		for _, f := range freqs {
			out[i] += a * math.Sin(2*math.Pi*f*float64(i)/sampleRate)
		}
	}
	return out
}

// signal assembles float audio from parts and adds white noise snr dB
// below the mean square of its non-silent parts (no noise if snr is 0).
type signal struct {
	x      []float64
	active float64 // sum of squares of the parts added with add
	n      int     // samples added with add
}

func (s *signal) add(x []float64) *signal {
	for _, v := range x {
		s.active += v * v
	}
	s.n += len(x)
	s.x = append(s.x, x...)
	return s
}

func (s *signal) silence(n int) *signal {
	s.x = append(s.x, make([]float64, n)...)
	return s
}

func (s *signal) tone(t testing.TB, key rune, n int, level float64) *signal {
	row, col := dtmfFreqs(t, key)
	return s.add(tones(n, level, row, col))
}

// ulaw returns the signal with noise snr dB below it (none for snr 0),
// through a G.711 μ-law encoder and decoder as a gateway sends it.
func (s *signal) ulaw(rng *rand.Rand, snr float64) []int16 {
	sigma := 0.0
	if snr != 0 && s.n > 0 {
		sigma = math.Sqrt(s.active / float64(s.n) / math.Pow(10, snr/10))
	}
	pcm := make([]int16, len(s.x))
	for i, v := range s.x {
		if sigma > 0 {
			v += sigma * rng.NormFloat64()
		}
		pcm[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	return g711RoundTrip(pcm)
}

func g711RoundTrip(pcm []int16) []int16 {
	b := make([]byte, len(pcm))
	EncodeUlaw(b, pcm)
	out := make([]int16, len(pcm))
	DecodeUlaw(out, b)
	return out
}

// detect feeds pcm to a new detector in frames of size samples and returns
// the keys found.
func detect(pcm []int16, size int) string {
	var d ToneDetector
	var keys []rune
	for len(pcm) > 0 {
		n := min(size, len(pcm))
		if k, ok := d.Feed(pcm[:n]); ok {
			keys = append(keys, k)
		}
		pcm = pcm[n:]
	}
	return string(keys)
}

// Every key, short and long, at any position in the frames, with noise 20 dB
// below and through μ-law, is found exactly once.
func TestToneDetectorKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, key := range dtmfDigits {
		for _, dur := range []int{50, 100} {
			for _, offset := range []int{0, 37, 80, 123, 159} {
				pcm := new(signal).silence(ms(60)+offset).tone(t, key, ms(dur), -8).silence(ms(100)).ulaw(rng, 20)
				if got := detect(pcm, samplesPerFrame); got != string(key) {
					t.Errorf("key %c, %d ms at offset %d: detected %q", key, dur, offset, got)
				}
			}
		}
	}
}

// Detection does not depend on how the audio is cut into frames (10, 20 or
// 30 ms packets, or odd sizes).
func TestToneDetectorFrameSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := new(signal).silence(ms(30))
	for _, key := range "159#0D" {
		s.tone(t, key, ms(60), -10).silence(ms(50))
	}
	pcm := s.ulaw(rng, 20)
	for _, size := range []int{80, 160, 240, 1, 77, 203} {
		if got := detect(pcm, size); got != "159#0D" {
			t.Errorf("frames of %d samples: detected %q, want 159#0D", size, got)
		}
	}
}

func TestToneDetectorSequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name string
		keys string
		on   int // ms of tone
		gap  int // ms of silence between keys
		want string
	}{
		{"same key twice, 50 ms gap", "11", 100, 50, "11"},
		{"same key twice, 40 ms gap", "55", 60, 40, "55"},
		{"all keys, 50/50", dtmfDigits, 50, 50, dtmfDigits},
		{"dialled number", "0612345678", 70, 60, "0612345678"},
		{"long press", "#", 2000, 0, "#"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := new(signal).silence(ms(40))
			for _, k := range tt.keys {
				s.tone(t, k, ms(tt.on), -6).silence(ms(tt.gap))
			}
			s.silence(ms(100))
			if got := detect(s.ulaw(rng, 20), samplesPerFrame); got != tt.want {
				t.Errorf("detected %q, want %q", got, tt.want)
			}
		})
	}
}

// Two keys back to back without a gap are both found: a different key
// releases the first one.
func TestToneDetectorKeyChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	s := new(signal).silence(ms(20)).tone(t, '2', ms(80), -6).tone(t, '8', ms(80), -6).silence(ms(60))
	if got := detect(s.ulaw(rng, 20), samplesPerFrame); got != "28" {
		t.Errorf("detected %q, want 28", got)
	}
}

// The level, twist, frequency and duration checks, each on its own.
func TestToneDetectorChecks(t *testing.T) {
	tests := []struct {
		name string
		sig  []float64
		want string
	}{
		{"reference", pair(697, 1209, -10, -10, 100), "1"},
		{"weak, -25 dBm0", pair(697, 1209, -25, -25, 100), "1"},
		{"too weak, -36 dBm0", pair(697, 1209, -36, -36, 100), ""},
		{"high group 3 dB louder", pair(852, 1477, -12, -9, 100), "9"},
		{"high group 6 dB louder", pair(852, 1477, -12, -6, 100), ""},
		{"high group 7 dB softer", pair(941, 1336, -6, -13, 100), "0"},
		{"high group 10 dB softer", pair(941, 1336, -6, -16, 100), ""},
		{"row only", tones(ms(100), -6, 770), ""},
		{"column only", tones(ms(100), -6, 1336), ""},
		{"two rows", tones(ms(100), -6, 697, 852), ""},
		{"two columns and a row", tones(ms(100), -6, 770, 1209, 1477), ""},
		{"second row 12 dB below", add(pair(770, 1477, -6, -6, 100), tones(ms(100), -18, 852)), "6"},
		{"second row 6 dB below", add(pair(770, 1477, -6, -6, 100), tones(ms(100), -12, 852)), ""},
		{"second column 6 dB below", add(pair(697, 1336, -6, -6, 100), tones(ms(100), -12, 1209)), ""},
		{"frequencies 1.5% off", pair(770*1.015, 1336*0.985, -8, -8, 100), "5"},
		{"frequencies 1.5% off, same way", pair(941*1.015, 1633*1.015, -8, -8, 100), "D"},
		{"frequencies 3.5% off", pair(770*1.035, 1336*1.035, -8, -8, 100), ""},
		{"frequencies 3.5% off, other way", pair(697*0.965, 1209*0.965, -8, -8, 100), ""},
		{"25 ms", pair(697, 1209, -6, -6, 25), ""},
		{"30 ms", pair(697, 1209, -6, -6, 30), ""},
		{"40 ms", pair(697, 1209, -6, -6, 40), "1"},
		{"loud, +3 dBm0 peak", pair(697, 1633, -3, -3, 100), "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := new(signal).silence(ms(40)).add(tt.sig).silence(ms(60))
			if got := detect(s.ulaw(nil, 0), samplesPerFrame); got != tt.want {
				t.Errorf("detected %q, want %q", got, tt.want)
			}
		})
	}
}

// pair is a row and a column tone at their own levels (dBm0) for d ms.
func pair(row, col, rowLevel, colLevel float64, d int) []float64 {
	x := tones(ms(d), rowLevel, row)
	for i, v := range tones(ms(d), colLevel, col) {
		x[i] += v
	}
	return x
}

// add sums y into x.
func add(x, y []float64) []float64 {
	for i, v := range y {
		x[i] += v
	}
	return x
}

// Speech from espeak-ng, several voices and levels, finds no key.
func TestToneDetectorSpeech(t *testing.T) {
	const text = "Welcome to the customer service. For sales, press one. " +
		"For billing and invoices, press two. To hear these options again, press star. " +
		"Please hold the line, your call is important to us, a representative will answer shortly. " +
		"Nine, eight, seven, six, five, four, three, two, one, zero. Hash, star, pound."
	rng := rand.New(rand.NewPCG(9, 10))
	for _, voice := range []string{"en", "en-us+f3", "en+m3", "fr", "de+f2"} {
		speech := speak(t, voice, text)
		for _, gain := range []float64{0.5, 1, 3} {
			s := new(signal)
			x := make([]float64, len(speech))
			for i, v := range speech {
				x[i] = gain * float64(v)
			}
			s.add(x)
			for _, snr := range []float64{0, 30} {
				if got := detect(s.ulaw(rng, snr), samplesPerFrame); got != "" {
					t.Errorf("voice %s, gain %v, snr %v: false keys %q", voice, gain, snr, got)
				}
			}
		}
	}
}

// speak renders text with espeak-ng and returns it as 8 kHz PCM16.
func speak(t *testing.T, voice, text string) []int16 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "speech.wav")
	cmd := exec.Command("espeak-ng", "-v", voice, "-w", path)
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := parsePCM16WAV(b)
	if err != nil {
		t.Fatal(err)
	}
	pcm = Resample(pcm, rate, sampleRate)
	if len(pcm) < ms(3000) {
		t.Fatalf("espeak-ng rendered only %d samples", len(pcm))
	}
	return pcm
}

// parsePCM16WAV reads a mono PCM16 WAV at any rate, as espeak-ng writes
// (ReadWAV only takes 8 kHz).
func parsePCM16WAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("not a wav file")
	}
	rate := 0
	for b = b[12:]; len(b) >= 8; {
		id, size := string(b[:4]), int(binary.LittleEndian.Uint32(b[4:8]))
		b = b[8:]
		size = min(size, len(b))
		switch id {
		case "fmt ":
			if size < 16 || binary.LittleEndian.Uint16(b[0:2]) != 1 || binary.LittleEndian.Uint16(b[2:4]) != 1 ||
				binary.LittleEndian.Uint16(b[14:16]) != 16 {
				return nil, 0, fmt.Errorf("not mono PCM16")
			}
			rate = int(binary.LittleEndian.Uint32(b[4:8]))
		case "data":
			if rate == 0 {
				return nil, 0, fmt.Errorf("data before fmt")
			}
			pcm := make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return pcm, rate, nil
		}
		b = b[size+size&1:]
	}
	return nil, 0, fmt.Errorf("no data chunk")
}

// Music-like signals (steady tones, chords, a melody) find no key.
func TestToneDetectorMusic(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	// A melody over two octaves, each note with its harmonics, over a
	// steady chord.
	var melody []float64
	for i := range 24 {
		f := 261.63 * math.Pow(2, float64(i)/12)
		note := tones(ms(200), -12, f)
		for h, v := range tones(ms(200), -18, 2*f, 3*f) {
			note[h] += v
		}
		melody = append(melody, note...)
	}
	for i, v := range tones(len(melody), -20, 130.81, 164.81, 196) {
		melody[i] += v
	}
	tests := []struct {
		name string
		sig  []float64
	}{
		{"440 Hz + 1 kHz", tones(ms(3000), -6, 440, 1000)},
		{"440 Hz + 1 kHz with harmonics", tones(ms(3000), -10, 440, 880, 1320, 1000, 2000)},
		{"A major chord", tones(ms(3000), -10, 440, 554.37, 659.25, 880)},
		{"melody", melody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := new(signal).add(tt.sig)
			if got := detect(s.ulaw(rng, 30), samplesPerFrame); got != "" {
				t.Errorf("false keys %q", got)
			}
		})
	}
}

// FuzzToneDetector feeds arbitrary audio in arbitrary frames: no panic, only
// DTMF keys, and the same keys as in 20 ms frames.
func FuzzToneDetector(f *testing.F) {
	s := new(signal).silence(ms(10))
	for _, k := range "4*" {
		s.tone(f, k, ms(50), -6).silence(ms(40))
	}
	tone := s.ulaw(nil, 0)
	seed := make([]byte, 2*len(tone))
	for i, v := range tone {
		binary.LittleEndian.PutUint16(seed[2*i:], uint16(v))
	}
	f.Add(seed, uint8(160))
	f.Add(seed, uint8(1))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		want := detect(pcm, samplesPerFrame)
		for _, k := range want {
			if !strings.ContainsRune(dtmfDigits, k) {
				t.Fatalf("key %q is not DTMF", k)
			}
		}
		// Keys are at least toneHits analyses apart, so frames up to
		// toneHits hops give the same keys.
		n := max(1, int(size)%(toneHits*toneHop+1))
		if got := detect(pcm, n); got != want {
			t.Fatalf("frames of %d: %q, frames of 160: %q", n, got, want)
		}
	})
}

func BenchmarkToneDetector(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	s := new(signal)
	for _, k := range "123" {
		s.tone(b, k, ms(100), -6).silence(ms(100))
	}
	pcm := s.ulaw(rng, 20)
	var d ToneDetector
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i+samplesPerFrame > len(pcm) {
			i = 0
		}
		d.Feed(pcm[i : i+samplesPerFrame])
		i += samplesPerFrame
	}
}

// inbandPackets returns μ-law or A-law RTP packets of 20 ms carrying pcm.
func inbandPackets(pcm []int16, codec Codec, ssrc uint32) [][]byte {
	var pkts [][]byte
	enc, _, _, _ := codec.funcs()
	for i := 0; i < len(pcm); i += samplesPerFrame {
		frame := pcm[i:min(i+samplesPerFrame, len(pcm))]
		pkt := make([]byte, RTPHeaderSize+len(frame))
		h := RTPHeader{PayloadType: codec.PayloadType, SequenceNumber: uint16(i / samplesPerFrame),
			Timestamp: uint32(i), SSRC: ssrc}
		h.MarshalTo(pkt)
		enc(pkt[RTPHeaderSize:], frame)
		pkts = append(pkts, pkt)
	}
	return pkts
}

// A session with no telephone-event and in-band detection on delivers the
// keys a gateway plays as tones in its audio.
func TestSessionInbandDTMF(t *testing.T) {
	const keys = "0123456789*#ABCD"
	rng := rand.New(rand.NewPCG(15, 16))
	s := new(signal).silence(ms(100))
	for _, k := range keys {
		s.tone(t, k, ms(60), -8).silence(ms(60))
	}
	pcm := s.ulaw(rng, 20)

	tests := []struct {
		name   string
		codec  Codec
		dtmfPT uint8
		enable bool
		want   string
	}{
		{"pcmu", CodecPCMU, 0, true, keys},
		{"pcma", CodecPCMA, 0, true, keys},
		{"telephone-event negotiated", CodecPCMU, 101, true, ""},
		{"not enabled", CodecPCMU, 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(t, 0)
			peer := newTestPeer(t)
			sess, err := e.NewSession(quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			sess.EnableInbandDTMF(tt.enable)
			if err := sess.Start(peer.addr(), tt.codec, tt.dtmfPT); err != nil {
				t.Fatal(err)
			}
			for i, pkt := range inbandPackets(pcm, tt.codec, 0x1234) {
				if _, err := peer.conn.WriteToUDPAddrPort(pkt, sess.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				if i%8 == 7 {
					time.Sleep(time.Millisecond) // let the receiver keep up
				}
			}
			var got []rune
			timeout := time.After(2 * time.Second)
		collect:
			for len(got) < len(tt.want) {
				select {
				case ev := <-sess.DTMF():
					if ev.Via != ViaInband || ev.At.IsZero() {
						t.Errorf("event %+v", ev)
					}
					got = append(got, ev.Digit)
				case <-timeout:
					break collect
				}
			}
			select {
			case ev := <-sess.DTMF():
				got = append(got, ev.Digit)
			case <-time.After(100 * time.Millisecond):
			}
			if string(got) != tt.want {
				t.Errorf("keys %q, want %q", string(got), tt.want)
			}
			if st := sess.Stats(); st.DTMF != uint64(len(tt.want)) {
				t.Errorf("stats: %d keys, want %d", st.DTMF, len(tt.want))
			}
		})
	}
}

// BenchmarkSessionReceiveInband is the receive path of an audio packet with
// in-band detection on: parse, decode μ-law, Goertzel.
func BenchmarkSessionReceiveInband(b *testing.B) {
	e := newTestEndpoint(b, 0)
	peer := newTestPeer(b)
	s, err := e.NewSession(quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := newPeer(peer.addr(), CodecPCMU, 0)
	if err != nil {
		b.Fatal(err)
	}
	s.peer.Store(p) // as Start, without the receive goroutine
	s.EnableInbandDTMF(true)

	rng := rand.New(rand.NewPCG(17, 18))
	// Speech-like noise: no key is delivered, as in most of a call.
	x := make([]float64, ms(1000))
	for i := range x {
		x[i] = 3000 * rng.NormFloat64()
	}
	pkts := inbandPackets(new(signal).add(x).ulaw(rng, 0), CodecPCMU, 7)
	var rx rxState
	from := peer.addr()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.handle(&rx, pkts[i%len(pkts)], from)
		i++
	}
	if s.Stats().DTMF != 0 {
		b.Fatal("keys in noise")
	}
}

// The in-band detector's state is allocated only for a session that runs
// it: a peer with telephone-event, or detection off, costs nothing.
func TestInbandStateLazy(t *testing.T) {
	tests := []struct {
		name   string
		dtmfPT uint8
		inband bool
		want   bool // state allocated
	}{
		{"telephone-event", 101, true, false},
		{"detection off", 0, false, false},
		{"in-band", 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(t, 0)
			peer := newTestPeer(t)
			s, err := e.NewSession(quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p, err := newPeer(peer.addr(), CodecPCMU, tt.dtmfPT)
			if err != nil {
				t.Fatal(err)
			}
			s.peer.Store(p)
			s.EnableInbandDTMF(tt.inband)
			pkt := make([]byte, RTPHeaderSize+samplesPerFrame)
			(&RTPHeader{PayloadType: 0, SSRC: 7}).MarshalTo(pkt)
			var rx rxState
			for range 3 {
				s.handle(&rx, pkt, peer.addr())
			}
			if got := rx.inband != nil; got != tt.want {
				t.Errorf("in-band state allocated: %v, want %v", got, tt.want)
			}
			if s.Stats().PacketsReceived != 3 {
				t.Errorf("received %d packets, want 3", s.Stats().PacketsReceived)
			}
		})
	}
}

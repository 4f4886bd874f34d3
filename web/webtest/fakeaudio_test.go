package webtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeToneWAV writes a 48 kHz mono WAV of a sine at a third of full
// scale.
func writeToneWAV(t *testing.T, path string, freq float64, seconds int) {
	const rate = 48000
	n := rate * seconds
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		v := int16(12000 * math.Sin(2*math.Pi*freq*float64(i)/rate))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The fake microphone plays the file given: a steady tone at a third of
// full scale, where Chromium's own beep peaks at full scale.
func TestFakeAudio(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()
	wav := filepath.Join(t.TempDir(), "tone.wav")
	writeToneWAV(t, wav, 440, 2)
	b := Start(t, WithFakeAudio(wav))
	p := b.NewPage(t)
	p.Open(srv.URL)
	p.Eval("window.call()", nil)
	p.WaitPeerStats("window.pcs.b", "audio received", func(s RTCStats) bool { return s.PacketsReceived > 50 })
	var levels []float64
	for range 15 {
		levels = append(levels, p.PeerStats("window.pcs.b").AudioLevel)
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range levels {
		if l < 0.01 || l > 0.5 {
			t.Fatalf("audio levels %v, want the steady tone of the file (the beep reaches 1)", levels)
		}
	}
	if err := WithFakeAudio(filepath.Join(t.TempDir(), "none.wav"))(&config{}); err == nil {
		t.Error("a missing file is accepted")
	}
}

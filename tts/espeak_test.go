package tts

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ivrd/ivrd/media"
)

func TestEspeakRender(t *testing.T) {
	e := &Espeak{CacheDir: t.TempDir()}
	tests := []struct {
		lang, text string
		min, max   time.Duration
	}{
		{"fr", "Bonjour et bienvenue chez ivrd.", 1 * time.Second, 5 * time.Second},
		{"en", "Press one for technical support.", 1 * time.Second, 5 * time.Second},
		{"fr", "un", 100 * time.Millisecond, 2 * time.Second},
	}
	for _, tt := range tests {
		a, err := e.Render(context.Background(), tt.text, tt.lang)
		if err != nil {
			t.Fatalf("Render(%q): %v", tt.text, err)
		}
		if a.Text != tt.text || len(a.ID) != 16 {
			t.Errorf("Render(%q) = %+v", tt.text, a)
		}
		b, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if ch, rate, bits := binary.LittleEndian.Uint16(b[22:]), binary.LittleEndian.Uint32(b[24:]), binary.LittleEndian.Uint16(b[34:]); ch != 1 || rate != 8000 || bits != 16 {
			t.Fatalf("%s: %d channels, %d Hz, %d bits; want 1, 8000, 16", a.Path, ch, rate, bits)
		}
		samples, err := media.LoadWAV(a.Path)
		if err != nil {
			t.Fatalf("LoadWAV: %v", err)
		}
		d := time.Duration(len(samples)) * time.Second / SampleRate
		if d < tt.min || d > tt.max {
			t.Errorf("%q lasts %v, want between %v and %v", tt.text, d, tt.min, tt.max)
		}
		var peak int16
		for _, s := range samples {
			peak = max(peak, s, -s)
		}
		if peak < 1000 {
			t.Errorf("%q: peak %d, want audible speech", tt.text, peak)
		}
	}
}

func TestEspeakCache(t *testing.T) {
	dir := t.TempDir()
	e := &Espeak{CacheDir: dir}
	first, err := e.Render(context.Background(), "Au revoir.", "fr")
	if err != nil {
		t.Fatal(err)
	}
	// A cache hit must not run the synthesizer at all.
	broken := &Espeak{CacheDir: dir, Bin: "/nonexistent/espeak-ng"}
	again, err := broken.Render(context.Background(), "Au revoir.", "fr")
	if err != nil {
		t.Fatalf("cached render ran the synthesizer: %v", err)
	}
	if again != first {
		t.Errorf("cached render = %+v, want %+v", again, first)
	}
	// Another voice or text is another file.
	other, err := e.Render(context.Background(), "Au revoir.", "en")
	if err != nil {
		t.Fatal(err)
	}
	if other.Path == first.Path {
		t.Error("different voices share a cache entry")
	}
	if _, err := broken.Render(context.Background(), "Pas encore rendu.", "fr"); err == nil {
		t.Error("missing synthesizer: want an error")
	}
}

func TestEspeakNoVoice(t *testing.T) {
	e := &Espeak{CacheDir: t.TempDir()}
	if _, err := e.Render(context.Background(), "Hallo", "de"); !errors.Is(err, ErrNoVoice) {
		t.Errorf("err = %v, want ErrNoVoice", err)
	}
}

func TestEspeakCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := &Espeak{CacheDir: t.TempDir()}
	if _, err := e.Render(ctx, "Trop tard.", "fr"); err == nil {
		t.Error("canceled context: want an error")
	}
}

func wavBytes(t testing.TB, samples []int16, rate, channels int) []byte {
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, samples, rate, channels); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodePCM16(t *testing.T) {
	got, rate, err := decodePCM16(wavBytes(t, []int16{1, -1, 2, -2, 3, -3}, 22050, 2))
	if err != nil {
		t.Fatal(err)
	}
	if rate != 22050 || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("decode = %v at %d Hz, want first channel [1 2 3] at 22050", got, rate)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF\x00\x00\x00\x00WAVE"), []byte("not a wav file at all")} {
		if _, _, err := decodePCM16(bad); !errors.Is(err, ErrBadOutput) {
			t.Errorf("decode(%q): err = %v, want ErrBadOutput", bad, err)
		}
	}
}

func FuzzDecodePCM16(f *testing.F) {
	f.Add(wavBytes(f, []int16{1, 2, 3}, 22050, 1))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodePCM16(b)
	})
}

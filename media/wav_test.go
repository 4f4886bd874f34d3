package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadWAV(t *testing.T) {
	tests := []struct {
		file    string
		samples int
		wantErr error
		errText string // part of the message naming the format
	}{
		{file: "tone_pcm16.wav", samples: 800},
		{file: "tone_alaw.wav", samples: 800},
		{file: "tone_ulaw.wav", samples: 800},
		{file: "stereo16k.wav", wantErr: ErrUnsupportedWAV, errText: "PCM, 16000 Hz, 2 channel(s), 16 bits"},
		{file: "float.wav", wantErr: ErrUnsupportedWAV, errText: "IEEE float"},
		{file: "pcm8.wav", wantErr: ErrUnsupportedWAV, errText: "8 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := LoadWAV(filepath.Join("testdata", tt.file))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), tt.file) {
					t.Errorf("error %q should name the file and %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.samples {
				t.Errorf("got %d samples, want %d", len(got), tt.samples)
			}
		})
	}
}

// The G.711 files were encoded by sox (without dither) from tone_pcm16.wav.
// Its μ-law encoder is the reference one, so the codes must match exactly;
// its A-law encoder rounds some values to the next step, so those may differ
// by one quantization step.
func TestReadWAVMatchesSoxG711(t *testing.T) {
	pcm, err := LoadWAV("testdata/tone_pcm16.wav")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file  string
		enc   func([]byte, []int16) int
		dec   func([]int16, []byte) int
		exact bool
	}{
		{"tone_alaw.wav", EncodeAlaw, DecodeAlaw, false},
		{"tone_ulaw.wav", EncodeUlaw, DecodeUlaw, true},
	} {
		got, err := LoadWAV(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(pcm) {
			t.Fatalf("%s: %d samples, want %d", tt.file, len(got), len(pcm))
		}
		codes := make([]byte, len(pcm))
		tt.enc(codes, pcm)
		want := make([]int16, len(pcm))
		tt.dec(want, codes)
		for i := range want {
			diff := abs(int(got[i]) - int(want[i]))
			if tt.exact && diff != 0 || diff > abs(int(want[i]))/8+16 {
				t.Fatalf("%s: sample %d (pcm %d): sox %d, ours %d", tt.file, i, pcm[i], got[i], want[i])
			}
		}
	}
}

func TestWriteReadWAV(t *testing.T) {
	in := []int16{0, 1, -1, 32767, -32768, 1234, -4321}
	var buf bytes.Buffer
	if err := WriteWAV(&buf, in, 8000, 1); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 44+2*len(in) {
		t.Errorf("file is %d bytes, want %d", buf.Len(), 44+2*len(in))
	}
	out, err := ReadWAV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !equalSamples(in, out) {
		t.Errorf("read %v, want %v", out, in)
	}

	buf.Reset()
	if err := WriteWAV(&buf, in[:6], 16000, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadWAV(&buf); !errors.Is(err, ErrUnsupportedWAV) {
		t.Errorf("16 kHz stereo: err = %v, want ErrUnsupportedWAV", err)
	}
	if err := WriteWAV(&buf, in, 0, 1); err == nil {
		t.Error("WriteWAV with rate 0: want error")
	}
}

func TestReadWAVInvalid(t *testing.T) {
	valid, err := os.ReadFile("testdata/tone_pcm16.wav")
	if err != nil {
		t.Fatal(err)
	}
	dataFirst := wavBytes(t, "data", []byte{1, 0}, "fmt ", fmtChunk(1, 1, 8000, 16))
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", valid[:10]},
		{"not riff", append([]byte("RIFX"), valid[4:]...)},
		{"not wave", append(append([]byte{}, valid[:8]...), append([]byte("AVI "), valid[12:]...)...)},
		{"no data chunk", valid[:36]},
		{"truncated fmt", valid[:30]},
		{"data before fmt", dataFirst},
		{"tiny fmt", wavBytes(t, "fmt ", make([]byte, 8))},
		{"truncated skipped chunk", wavBytes(t, "fmt ", fmtChunk(1, 1, 8000, 16), "LIST", []byte{})},
	}
	// Make the LIST chunk claim more bytes than the file has.
	last := tests[len(tests)-1].in
	binary.LittleEndian.PutUint32(last[len(last)-4:], 100)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadWAV(bytes.NewReader(tt.in)); !errors.Is(err, ErrInvalidWAV) {
				t.Errorf("err = %v, want ErrInvalidWAV", err)
			}
		})
	}
}

func TestReadWAVSkipsChunksAndTruncatedData(t *testing.T) {
	pcm := []byte{1, 0, 2, 0, 3, 0}
	in := wavBytes(t, "fmt ", fmtChunk(1, 1, 8000, 16), "LIST", []byte("odd"), "data", pcm)
	// Claim a longer data chunk than present, as streaming writers do.
	binary.LittleEndian.PutUint32(in[len(in)-len(pcm)-4:], 0x7ffff000)
	got, err := ReadWAV(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int16{1, 2, 3}; !equalSamples(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPromptCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wav")
	write := func(s []int16) {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, s, 8000, 1); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write([]int16{1, 2, 3})
	c := NewPromptCache()
	a, err := c.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if &a[0] != &b[0] {
		t.Error("second load did not come from the cache")
	}
	write([]int16{4, 5, 6, 7}) // new size: reloaded
	d, err := c.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalSamples(d, []int16{4, 5, 6, 7}) {
		t.Errorf("after change got %v", d)
	}
	if _, err := c.Load(filepath.Join(dir, "missing.wav")); err == nil {
		t.Error("missing file: want error")
	}
}

func FuzzReadWAV(f *testing.F) {
	for _, name := range []string{"tone_pcm16.wav", "tone_alaw.wav", "float.wav"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 200)])
	}
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ReadWAV(bytes.NewReader(in))
		if err == nil && len(s) > len(in) {
			t.Fatalf("%d samples from %d bytes", len(s), len(in))
		}
	})
}

func fmtChunk(tag, channels uint16, rate uint32, bits uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], tag)
	binary.LittleEndian.PutUint16(b[2:], channels)
	binary.LittleEndian.PutUint32(b[4:], rate)
	binary.LittleEndian.PutUint32(b[8:], rate*uint32(channels*bits/8))
	binary.LittleEndian.PutUint16(b[12:], channels*bits/8)
	binary.LittleEndian.PutUint16(b[14:], bits)
	return b
}

// wavBytes builds a RIFF/WAVE file from (id, body) chunk pairs.
func wavBytes(t *testing.T, chunks ...any) []byte {
	t.Helper()
	var body bytes.Buffer
	body.WriteString("WAVE")
	for i := 0; i+1 < len(chunks); i += 2 {
		id, data := chunks[i].(string), chunks[i+1].([]byte)
		body.WriteString(id)
		binary.Write(&body, binary.LittleEndian, uint32(len(data)))
		body.Write(data)
		if len(data)%2 == 1 {
			body.WriteByte(0)
		}
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(body.Len()))
	return append(out, body.Bytes()...)
}

func equalSamples(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package audiofile_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ivrd/ivrd/recordings/audiofile"
)

const frame = 160 // samples per channel in 20 ms

var testKey = bytes.Repeat([]byte{0x5a}, 32)

// audio returns n samples per channel of noise, negative values included.
func audio(seed uint64, n int) (left, right []int16) {
	rng := rand.New(rand.NewPCG(seed, 1))
	left, right = make([]int16, n), make([]int16, n)
	for i := range n {
		left[i] = int16(rng.Uint32())
		right[i] = int16(rng.Uint32())
	}
	return left, right
}

// refWAV builds the expected WAV of left and right independently of the
// package: a 44-byte PCM header and interleaved samples.
func refWAV(left, right []int16) []byte {
	var b bytes.Buffer
	data := uint32(4 * len(left))
	put32 := func(v uint32) { binary.Write(&b, binary.LittleEndian, v) }
	put16 := func(v uint16) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	put32(36 + data)
	b.WriteString("WAVEfmt ")
	put32(16)
	put16(1)
	put16(2)
	put32(8000)
	put32(8000 * 4)
	put16(4)
	put16(16)
	b.WriteString("data")
	put32(data)
	for i := range left {
		put16(uint16(left[i]))
		put16(uint16(right[i]))
	}
	return b.Bytes()
}

// wavInfo is what parseWAV finds in a WAV.
type wavInfo struct {
	channels, rate, bits int
	left, right          []int16
}

// parseWAV reads a WAV the way a player would and checks its sizes agree
// with its length.
func parseWAV(t *testing.T, b []byte) wavInfo {
	t.Helper()
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		t.Fatalf("not a canonical wav: % x", b[:min(len(b), 44)])
	}
	le := binary.LittleEndian
	if got, want := le.Uint32(b[4:8]), uint32(len(b)-8); got != want {
		t.Fatalf("riff size %d, want %d", got, want)
	}
	if got, want := le.Uint32(b[40:44]), uint32(len(b)-44); got != want {
		t.Fatalf("data size %d, want %d", got, want)
	}
	if format := le.Uint16(b[20:22]); format != 1 {
		t.Fatalf("format %d, want PCM", format)
	}
	w := wavInfo{
		channels: int(le.Uint16(b[22:24])),
		rate:     int(le.Uint32(b[24:28])),
		bits:     int(le.Uint16(b[34:36])),
	}
	if le.Uint32(b[28:32]) != uint32(w.rate*w.channels*w.bits/8) || int(le.Uint16(b[32:34])) != w.channels*w.bits/8 {
		t.Fatalf("byte rate or block align inconsistent: % x", b[28:34])
	}
	for d := b[44:]; len(d) >= 4; d = d[4:] {
		w.left = append(w.left, int16(le.Uint16(d[0:2])))
		w.right = append(w.right, int16(le.Uint16(d[2:4])))
	}
	return w
}

// record writes left and right in 20 ms frames (a shorter last one) and
// closes the file.
func record(t *testing.T, path string, key []byte, chunkSize int, left, right []int16) audiofile.Info {
	t.Helper()
	w := writeFrames(t, path, key, chunkSize, left, right)
	inf, err := w.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	return inf
}

// writeFrames writes left and right to a new Writer and leaves it open.
func writeFrames(t *testing.T, path string, key []byte, chunkSize int, left, right []int16) *audiofile.Writer {
	t.Helper()
	w, err := audiofile.CreateChunked(path, key, chunkSize)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for i := 0; i < len(left); i += frame {
		j := min(i+frame, len(left))
		if err := w.WriteFrames(left[i:j], right[i:j]); err != nil {
			t.Fatalf("WriteFrames: %v", err)
		}
	}
	if got := w.Samples(); got != int64(len(left)) {
		t.Fatalf("Samples() = %d, want %d", got, len(left))
	}
	return w
}

// readAll opens path and returns its plaintext.
func readAll(t *testing.T, path string, key []byte) []byte {
	t.Helper()
	r, err := audiofile.Open(path, key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if int64(len(b)) != r.Size() {
		t.Fatalf("read %d bytes, Size() = %d", len(b), r.Size())
	}
	return b
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

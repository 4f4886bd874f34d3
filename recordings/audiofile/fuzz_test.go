package audiofile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ivrd/ivrd/recordings/audiofile"
)

// fuzzSeeds are valid files of both formats, whole and cut.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	dir := f.TempDir()
	left, right := audio(1, 700)
	for i, key := range [][]byte{nil, testKey} {
		path := filepath.Join(dir, string(rune('a'+i))+".wav")
		w, err := audiofile.CreateChunked(path, key, 256)
		if err != nil {
			f.Fatal(err)
		}
		if err := w.WriteFrames(left, right); err != nil {
			f.Fatal(err)
		}
		if _, err := w.Close(); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b, b[:len(b)/2], b[:44], b[:audiofile.DataStart], b[:len(b)-1])
	}
	return append(seeds, nil, []byte("RIFF"), []byte("IVRDREC1"))
}

// FuzzOpen feeds arbitrary files to Open and the Reader: they never panic,
// and what they serve is as long as Size says.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, int64(0))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte, seek int64) {
		path := filepath.Join(dir, "f.wav")
		mustWrite(t, path, b)
		for _, key := range [][]byte{nil, testKey} {
			r, err := audiofile.Open(path, key)
			if err != nil {
				continue
			}
			got, err := io.ReadAll(r)
			if err == nil && int64(len(got)) != r.Size() {
				t.Fatalf("read %d bytes, Size() = %d", len(got), r.Size())
			}
			if err != nil && !errors.Is(err, audiofile.ErrAuth) {
				t.Fatalf("read: %v", err)
			}
			if _, err := r.Seek(seek&0xffffff, io.SeekStart); err == nil {
				io.Copy(io.Discard, r)
			}
			r.Close()
		}
	})
}

// FuzzRepair feeds arbitrary leftovers to Repair: it never panics, and
// what it repairs opens and reads whole, with the duration it reported.
func FuzzRepair(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "f.wav")
		mustWrite(t, path+audiofile.PartSuffix, b)
		inf, err := audiofile.Repair(path+audiofile.PartSuffix, testKey)
		if err != nil {
			return
		}
		r, err := audiofile.Open(inf.Path, testKey)
		if err != nil {
			t.Fatalf("repaired file does not open: %v", err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("repaired file does not read: %v", err)
		}
		w := parseWAV(t, got)
		if int64(len(w.left))*int64(1e9)/8000 != int64(inf.Duration) {
			t.Fatalf("repaired file has %d samples, Info says %v", len(w.left), inf.Duration)
		}
	})
}

package audiofile_test

import (
	"path/filepath"
	"testing"

	"github.com/ivrd/ivrd/recordings/audiofile"
)

// BenchmarkWriteFrames writes one 20 ms frame per op; file writes and
// chunk seals are amortised over the 64 KiB buffer.
func BenchmarkWriteFrames(b *testing.B) {
	for _, bc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", testKey}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := audiofile.Create(filepath.Join(b.TempDir(), "a.wav"), bc.key)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Abort()
			left, right := audio(1, frame)
			b.ReportAllocs()
			b.SetBytes(frame * 4)
			for b.Loop() {
				if err := w.WriteFrames(left, right); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestWriteFramesAllocs checks that WriteFrames allocates nothing, flushes
// included: with a chunk of one frame every call writes (and seals) one.
func TestWriteFramesAllocs(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		w, err := audiofile.CreateChunked(filepath.Join(t.TempDir(), "a.wav"), key, frame*4)
		if err != nil {
			t.Fatal(err)
		}
		left, right := audio(1, frame)
		if allocs := testing.AllocsPerRun(200, func() {
			if err := w.WriteFrames(left, right); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("encrypted=%v: %v allocations per frame, want 0", key != nil, allocs)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
	}
}

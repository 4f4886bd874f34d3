package audiofile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/recordings/audiofile"
)

// crashed writes samples to a recording, leaves it open as a crash would,
// and returns what is on disk of its part file.
func crashed(t *testing.T, key []byte, chunkSize int, left, right []int16) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.wav")
	w := writeFrames(t, path, key, chunkSize, left, right)
	b := mustRead(t, path+audiofile.PartSuffix)
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRepaired checks a repaired recording holds the first samples of
// left and right.
func checkRepaired(t *testing.T, inf audiofile.Info, key []byte, left, right []int16, samples int) {
	t.Helper()
	if want := time.Duration(samples) * time.Second / 8000; inf.Duration != want {
		t.Fatalf("duration %v, want %v (%d samples)", inf.Duration, want, samples)
	}
	sum, size, err := audiofile.Hash(inf.Path)
	if err != nil {
		t.Fatal(err)
	}
	if inf.SHA256 != sum || inf.Size != size || inf.Encrypted != (key != nil) {
		t.Fatalf("Info %+v, file has sha256 %s size %d", inf, sum, size)
	}
	got := readAll(t, inf.Path, key)
	if !bytes.Equal(got, refWAV(left[:samples], right[:samples])) {
		t.Fatalf("repaired file (%d bytes) is not the wav of its first %d samples", len(got), samples)
	}
}

// TestRepairTruncated cuts the part file of a crashed recording at many
// lengths, as a crash during a write may, and repairs each.
func TestRepairTruncated(t *testing.T) {
	const cs = 256
	left, right := audio(21, 40*frame)
	rec := cs + audiofile.Overhead
	tests := []struct {
		name    string
		key     []byte
		minimum int             // shorter parts are unrepairable
		samples func(n int) int // samples a part of n bytes keeps
	}{
		{"plain", nil, 44, func(n int) int { return (n - 44) / 4 }},
		{"encrypted", testKey, audiofile.DataStart, func(n int) int { return (n - audiofile.DataStart) / rec * cs / 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			part := crashed(t, tt.key, cs, left, right)
			if tt.samples(len(part)) < len(left)-cs/4 {
				t.Fatalf("part file of %d bytes holds too little audio", len(part))
			}
			t.Parallel()
			// Every length is too slow (each repair fsyncs twice): take
			// the short ones, both sides of each header and of some
			// record boundaries, and a stride through the rest.
			lengths := map[int]bool{len(part): true}
			for n := 0; n <= len(part); n += 197 {
				lengths[n] = true
			}
			for n := range 12 {
				lengths[n] = true
			}
			for _, b := range []int{44, audiofile.DataStart} {
				for i := -2; i <= 2; i++ {
					lengths[b+i] = true
				}
			}
			if tt.key != nil {
				for i, off := 0, audiofile.DataStart; off <= len(part); i, off = i+1, off+rec {
					if i < 5 || i%10 == 0 {
						lengths[off-1], lengths[off], lengths[off+1] = true, true, true
					}
				}
			}

			dir := t.TempDir()
			for n := range lengths {
				if n > len(part) {
					continue
				}
				path := filepath.Join(dir, fmt.Sprintf("cut%d.wav", n))
				mustWrite(t, path+audiofile.PartSuffix, part[:n])
				inf, err := audiofile.Repair(path+audiofile.PartSuffix, tt.key)
				if n < tt.minimum {
					if !errors.Is(err, audiofile.ErrUnrepairable) {
						t.Fatalf("%d bytes: Repair = %v, want ErrUnrepairable", n, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%d bytes: Repair: %v", n, err)
				}
				if inf.Path != path {
					t.Fatalf("%d bytes: repaired to %s, want %s", n, inf.Path, path)
				}
				if _, err := os.Stat(path + audiofile.PartSuffix); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%d bytes: part file still there: %v", n, err)
				}
				checkRepaired(t, inf, tt.key, left, right, tt.samples(n))
			}
		})
	}
}

// TestRepairComplete repairs files that were complete when the crash came,
// before the rename, and repairs again files whose repair was interrupted
// likewise: nothing is lost.
func TestRepairComplete(t *testing.T) {
	tests := []struct {
		name      string
		key       []byte
		samples   int
		chunkSize int
	}{
		{"plain", nil, 5000, 1024},
		{"plain empty", nil, 0, 1024},
		{"encrypted", testKey, 5000, 1024},
		{"encrypted exact chunks", testKey, 5 * 256, 1024},
		{"encrypted one short chunk", testKey, 10, 1024},
		{"encrypted empty", testKey, 0, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.wav")
			left, right := audio(8, tt.samples)
			record(t, path, tt.key, tt.chunkSize, left, right)
			for range 2 {
				if err := os.Rename(path, path+audiofile.PartSuffix); err != nil {
					t.Fatal(err)
				}
				inf, err := audiofile.Repair(path+audiofile.PartSuffix, tt.key)
				if err != nil {
					t.Fatalf("Repair: %v", err)
				}
				checkRepaired(t, inf, tt.key, left, right, tt.samples)
			}
		})
	}
}

// TestRepairEmptyPart repairs a recording that crashed before any audio
// reached the disk.
func TestRepairEmptyPart(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		left, right := audio(1, 100)
		part := crashed(t, key, audiofile.DefaultChunkSize, left, right)
		path := filepath.Join(t.TempDir(), "a.wav")
		mustWrite(t, path+audiofile.PartSuffix, part)
		inf, err := audiofile.Repair(path+audiofile.PartSuffix, key)
		if err != nil {
			t.Fatalf("Repair: %v", err)
		}
		checkRepaired(t, inf, key, left, right, 0)
	}
}

// TestRepairCorruptMiddle keeps the records before one that does not
// authenticate.
func TestRepairCorruptMiddle(t *testing.T) {
	const cs = 512
	left, right := audio(2, 20*cs/4)
	part := crashed(t, testKey, cs, left, right)
	part[audiofile.DataStart+4*(cs+audiofile.Overhead)+99] ^= 0x80 // in record 5
	path := filepath.Join(t.TempDir(), "a.wav")
	mustWrite(t, path+audiofile.PartSuffix, part)
	inf, err := audiofile.Repair(path+audiofile.PartSuffix, testKey)
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	checkRepaired(t, inf, testKey, left, right, 4*cs/4)
}

func TestRepairErrors(t *testing.T) {
	left, right := audio(6, 4000)
	encPart := crashed(t, testKey, 1024, left, right)
	plainPart := crashed(t, nil, 1024, left, right)
	mono := bytes.Clone(plainPart)
	mono[22] = 1
	garbage := make([]byte, 1000)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	badChunk := bytes.Clone(encPart)
	badChunk[10] = 0xff // chunk size 16 MiB and more

	tests := []struct {
		name string
		part []byte
		key  []byte
		want []error
	}{
		{"empty", nil, nil, []error{audiofile.ErrUnrepairable}},
		{"three bytes", []byte("RIF"), nil, []error{audiofile.ErrUnrepairable}},
		{"wav header cut", plainPart[:43], nil, []error{audiofile.ErrUnrepairable}},
		{"garbage", garbage, testKey, []error{audiofile.ErrUnrepairable}},
		{"mono wav", mono, nil, []error{audiofile.ErrUnrepairable}},
		{"container header cut", encPart[:20], testKey, []error{audiofile.ErrUnrepairable}},
		{"container bad chunk size", badChunk, testKey, []error{audiofile.ErrUnrepairable}},
		{"container wrong key", encPart, bytes.Repeat([]byte{3}, 32), []error{audiofile.ErrUnrepairable, audiofile.ErrAuth}},
		{"container without key", encPart, nil, []error{audiofile.ErrNoKey}},
		{"short key", plainPart, []byte("short"), []error{audiofile.ErrBadKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			part := filepath.Join(dir, "a.wav"+audiofile.PartSuffix)
			mustWrite(t, part, tt.part)
			_, err := audiofile.Repair(part, tt.key)
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Repair = %v, want %v", err, want)
				}
			}
			// A file Repair refuses is left as it was, for the caller to flag.
			if got := mustRead(t, part); !bytes.Equal(got, tt.part) {
				t.Errorf("Repair changed the part file it refused")
			}
			if names := dirEntries(t, dir); len(names) != 1 {
				t.Errorf("directory holds %q", names)
			}
		})
	}

	t.Run("final name exists", func(t *testing.T) {
		dir := t.TempDir()
		final := filepath.Join(dir, "a.wav")
		mustWrite(t, final, []byte("keep"))
		mustWrite(t, final+audiofile.PartSuffix, plainPart)
		if _, err := audiofile.Repair(final+audiofile.PartSuffix, nil); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Repair = %v, want fs.ErrExist", err)
		}
		if string(mustRead(t, final)) != "keep" || !bytes.Equal(mustRead(t, final+audiofile.PartSuffix), plainPart) {
			t.Fatal("Repair changed files although the final name exists")
		}
	})

	t.Run("not a part name", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.wav")
		mustWrite(t, path, plainPart)
		if _, err := audiofile.Repair(path, nil); err == nil {
			t.Fatal("Repair accepted a name without .part")
		}
	})

	t.Run("missing", func(t *testing.T) {
		if _, err := audiofile.Repair(filepath.Join(t.TempDir(), "a.wav.part"), nil); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Repair = %v, want fs.ErrNotExist", err)
		}
	})
}

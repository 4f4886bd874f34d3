package audiofile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/recordings/audiofile"
)

func TestRoundTrip(t *testing.T) {
	const cs = audiofile.DefaultChunkSize
	tests := []struct {
		name      string
		samples   int
		chunkSize int
	}{
		{"empty", 0, cs},
		{"one frame", frame, cs},
		{"one sample", 1, cs},
		{"exactly one chunk", cs / 4, cs},
		{"one chunk and a sample", cs/4 + 1, cs},
		{"five seconds", 5 * 8000, cs},
		{"small chunks", 3*frame + 7, 64},
		{"small chunks exact", 40 * 16, 64},
	}
	for _, tt := range tests {
		for _, key := range [][]byte{nil, testKey} {
			name := tt.name + "/plain"
			if key != nil {
				name = tt.name + "/encrypted"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "2026", "05", "rec.wav")
				left, right := audio(uint64(tt.samples), tt.samples)
				want := refWAV(left, right)

				inf, err := func() (audiofile.Info, error) {
					w := writeFrames(t, path, key, tt.chunkSize, left, right)
					return w.Close()
				}()
				if err != nil {
					t.Fatalf("Close: %v", err)
				}

				disk := mustRead(t, path)
				sum, size, err := audiofile.Hash(path)
				if err != nil {
					t.Fatal(err)
				}
				wantDur := time.Duration(tt.samples) * time.Second / 8000
				if inf.Path != path || inf.Size != int64(len(disk)) || inf.Size != size ||
					inf.SHA256 != sum || inf.Duration != wantDur || inf.Encrypted != (key != nil) {
					t.Errorf("Info = %+v, want path %s size %d sha256 %s duration %v", inf, path, len(disk), sum, wantDur)
				}
				if names := dirEntries(t, filepath.Dir(path)); len(names) != 1 || names[0] != "rec.wav" {
					t.Errorf("directory holds %q, want only rec.wav", names)
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("mode %v, want 0600", st.Mode().Perm())
				}
				dst, err := os.Stat(filepath.Dir(path))
				if err != nil {
					t.Fatal(err)
				}
				if dst.Mode().Perm()&0o027 != 0 {
					t.Errorf("directory mode %v, want at most 0750", dst.Mode().Perm())
				}

				enc, err := audiofile.IsEncrypted(path)
				if err != nil || enc != (key != nil) {
					t.Errorf("IsEncrypted = %v, %v; want %v", enc, err, key != nil)
				}
				if key == nil {
					if !bytes.Equal(disk, want) {
						t.Errorf("plain file differs from the reference wav")
					}
				} else {
					if bytes.HasPrefix(disk, []byte("RIFF")) || bytes.Contains(disk, []byte("WAVEfmt")) {
						t.Errorf("encrypted file holds a plain wav header")
					}
					if got, want := int64(len(disk)), int64(len(want)+audiofile.ContainerHeader+
						audiofile.Overhead*(1+(len(want)-44+tt.chunkSize-1)/tt.chunkSize)); got != want {
						t.Errorf("container size %d, want %d", got, want)
					}
				}

				got := readAll(t, path, key)
				if !bytes.Equal(got, want) {
					t.Fatalf("Open returned %d bytes differing from the %d of the reference", len(got), len(want))
				}
				w := parseWAV(t, got)
				if w.channels != 2 || w.rate != 8000 || w.bits != 16 || len(w.left) != tt.samples {
					t.Errorf("wav: %d channels, %d Hz, %d bits, %d samples", w.channels, w.rate, w.bits, len(w.left))
				}
			})
		}
	}
}

func TestOpenKeys(t *testing.T) {
	dir := t.TempDir()
	left, right := audio(1, 3000)
	enc := filepath.Join(dir, "enc.wav")
	plain := filepath.Join(dir, "plain.wav")
	record(t, enc, testKey, audiofile.DefaultChunkSize, left, right)
	record(t, plain, nil, audiofile.DefaultChunkSize, left, right)
	other := bytes.Repeat([]byte{1}, 32)

	tests := []struct {
		name string
		path string
		key  []byte
		want error
	}{
		{"encrypted without key", enc, nil, audiofile.ErrNoKey},
		{"encrypted short key", enc, testKey[:16], audiofile.ErrBadKey},
		{"encrypted wrong key", enc, other, audiofile.ErrAuth},
		{"encrypted right key", enc, testKey, nil},
		{"plain without key", plain, nil, nil},
		{"plain with key", plain, testKey, nil},
		{"plain short key", plain, []byte("k"), audiofile.ErrBadKey},
		{"missing", filepath.Join(dir, "nope.wav"), nil, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := audiofile.Open(tt.path, tt.key)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if err == nil {
				r.Close()
			}
		})
	}
}

func TestOpenNotRecording(t *testing.T) {
	dir := t.TempDir()
	mono := refWAV(nil, nil)
	mono[22] = 1 // one channel
	tests := map[string][]byte{
		"empty":   nil,
		"text":    []byte("hello, world, this is not audio at all"),
		"mono":    mono,
		"cut wav": refWAV(nil, nil)[:30],
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			mustWrite(t, path, b)
			if _, err := audiofile.Open(path, nil); !errors.Is(err, audiofile.ErrFormat) {
				t.Fatalf("Open = %v, want ErrFormat", err)
			}
		})
	}
}

// TestSoxInfo checks with sox that a recording is what players see: two
// channels at 8 kHz of the length written.
func TestSoxInfo(t *testing.T) {
	soxi, err := exec.LookPath("soxi")
	if err != nil {
		t.Fatalf("soxi not found (make test-deps installs sox): %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rec.wav")
	left, right := audio(7, 2*8000+frame*25) // 2.5 s
	record(t, path, nil, audiofile.DefaultChunkSize, left, right)

	// A repaired leftover must satisfy sox too.
	part := filepath.Join(dir, "crashed.wav")
	w := writeFrames(t, part, nil, 4096, left, right)
	crashed := mustRead(t, part+audiofile.PartSuffix)
	w.Abort()
	mustWrite(t, part+audiofile.PartSuffix, append(crashed, 1, 2, 3)) // a torn frame
	inf, err := audiofile.Repair(part+audiofile.PartSuffix, nil)
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if want := int64(len(crashed)-44) / 4; want == 0 || int64(inf.Duration*8000/time.Second) != want {
		t.Fatalf("repaired duration %v, want %d samples", inf.Duration, want)
	}

	tests := []struct {
		path    string
		samples int64
	}{
		{path, int64(len(left))},
		{part, int64(inf.Duration * 8000 / time.Second)},
	}
	for _, tt := range tests {
		query := func(flag string) string {
			out, err := exec.Command(soxi, flag, tt.path).CombinedOutput()
			if err != nil {
				t.Fatalf("soxi %s %s: %v: %s", flag, tt.path, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		if got := query("-c"); got != "2" {
			t.Errorf("%s: channels %s, want 2", tt.path, got)
		}
		if got := query("-r"); got != "8000" {
			t.Errorf("%s: rate %s, want 8000", tt.path, got)
		}
		if got := query("-b"); got != "16" {
			t.Errorf("%s: bits %s, want 16", tt.path, got)
		}
		if got := query("-s"); got != strconv.FormatInt(tt.samples, 10) {
			t.Errorf("%s: %s samples, want %d", tt.path, got, tt.samples)
		}
		d, err := strconv.ParseFloat(query("-D"), 64)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(tt.samples) / 8000; d < want-0.001 || d > want+0.001 {
			t.Errorf("%s: duration %.3f s, want %.3f", tt.path, d, want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.wav")
	mustWrite(t, exists, []byte("x"))
	busy := filepath.Join(dir, "busy.wav")
	mustWrite(t, busy+audiofile.PartSuffix, []byte("x"))

	tests := []struct {
		name string
		path string
		key  []byte
		want error
	}{
		{"final name exists", exists, nil, fs.ErrExist},
		{"part exists", busy, nil, fs.ErrExist},
		{"short key", filepath.Join(dir, "k.wav"), make([]byte, 31), audiofile.ErrBadKey},
		{"long key", filepath.Join(dir, "k.wav"), make([]byte, 33), audiofile.ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := audiofile.Create(tt.path, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Create = %v, want %v", err, tt.want)
			}
			if w != nil {
				t.Fatal("Create returned a Writer with an error")
			}
		})
	}
	if got := mustRead(t, busy+audiofile.PartSuffix); string(got) != "x" {
		t.Errorf("Create overwrote an existing part file")
	}
	if _, err := os.Stat(filepath.Join(dir, "k.wav"+audiofile.PartSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create with a bad key left a file: %v", err)
	}
}

func TestWriteFramesErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := audiofile.Create(filepath.Join(dir, "a.wav"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.WriteFrames(make([]int16, 160), make([]int16, 159)); !errors.Is(err, audiofile.ErrUnevenFrames) {
		t.Errorf("uneven frames: %v, want ErrUnevenFrames", err)
	}
	w.SetWritten(audiofile.MaxDataBytes - 4)
	if err := w.WriteFrames(make([]int16, 1), make([]int16, 1)); err != nil {
		t.Errorf("last frame that fits: %v", err)
	}
	if err := w.WriteFrames(make([]int16, 1), make([]int16, 1)); !errors.Is(err, audiofile.ErrTooLong) {
		t.Errorf("frame past 4 GiB: %v, want ErrTooLong", err)
	}
}

func TestAbort(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run("encrypted="+strconv.FormatBool(key != nil), func(t *testing.T) {
			left, right := audio(3, 20000)

			t.Run("while writing", func(t *testing.T) {
				dir := t.TempDir()
				w := writeFrames(t, filepath.Join(dir, "a.wav"), key, 1024, left, right)
				for range 2 {
					if err := w.Abort(); err != nil {
						t.Fatalf("Abort: %v", err)
					}
				}
				if names := dirEntries(t, dir); len(names) != 0 {
					t.Errorf("Abort left %q", names)
				}
				if err := w.WriteFrames(left[:1], right[:1]); !errors.Is(err, audiofile.ErrClosed) {
					t.Errorf("WriteFrames after Abort: %v, want ErrClosed", err)
				}
				if _, err := w.Close(); !errors.Is(err, audiofile.ErrClosed) {
					t.Errorf("Close after Abort: %v, want ErrClosed", err)
				}
			})

			t.Run("after close", func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "a.wav")
				w := writeFrames(t, path, key, 1024, left, right)
				if _, err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Close(); !errors.Is(err, audiofile.ErrClosed) {
					t.Errorf("second Close: %v, want ErrClosed", err)
				}
				if err := w.Abort(); err != nil {
					t.Fatalf("Abort: %v", err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("Abort after Close removed the recording: %v", err)
				}
			})

			t.Run("after failed close", func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "a.wav")
				w := writeFrames(t, path, key, 1024, left, right)
				// A directory in the way makes the rename fail.
				mustWrite(t, filepath.Join(path, "x"), nil)
				if _, err := w.Close(); err == nil {
					t.Fatal("Close succeeded over a directory")
				}
				if err := w.Abort(); err != nil {
					t.Fatalf("Abort: %v", err)
				}
				if names := dirEntries(t, dir); len(names) != 1 || names[0] != "a.wav" {
					t.Errorf("after Abort the directory holds %q, want only the obstacle", names)
				}
			})
		})
	}
}

// TestPartFileEncrypted checks that a recording being written is never
// stored as plain WAV either.
func TestPartFileEncrypted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.wav")
	left, right := audio(4, 30000)
	w := writeFrames(t, path, testKey, 1024, left, right)
	defer w.Abort()
	part := mustRead(t, path+audiofile.PartSuffix)
	if len(part) < audiofile.DataStart+1024 {
		t.Fatalf("part file has %d bytes; want flushed chunks", len(part))
	}
	if bytes.HasPrefix(part, []byte("RIFF")) || bytes.Contains(part, []byte("WAVEfmt")) {
		t.Errorf("part file holds a plain wav header")
	}
	if enc, err := audiofile.IsEncrypted(path + audiofile.PartSuffix); err != nil || !enc {
		t.Errorf("IsEncrypted(part) = %v, %v", enc, err)
	}
}

func TestIsEncryptedShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short")
	mustWrite(t, path, []byte("IVRD"))
	if enc, err := audiofile.IsEncrypted(path); err != nil || enc {
		t.Errorf("IsEncrypted = %v, %v; want false, nil", enc, err)
	}
	if _, err := audiofile.IsEncrypted(path + "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("IsEncrypted(missing) = %v", err)
	}
}

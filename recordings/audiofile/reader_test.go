package audiofile_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ivrd/ivrd/recordings/audiofile"
)

func TestSeek(t *testing.T) {
	tests := []struct {
		name      string
		key       []byte
		chunkSize int
	}{
		{"plain", nil, audiofile.DefaultChunkSize},
		{"encrypted", testKey, audiofile.DefaultChunkSize},
		{"encrypted small chunks", testKey, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.wav")
			left, right := audio(9, 3*8000+13)
			want := refWAV(left, right)
			record(t, path, tt.key, tt.chunkSize, left, right)
			r, err := audiofile.Open(path, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Size() != int64(len(want)) {
				t.Fatalf("Size() = %d, want %d", r.Size(), len(want))
			}

			rng := rand.New(rand.NewPCG(42, 42))
			size := int64(len(want))
			buf := make([]byte, 3*tt.chunkSize)
			var pos int64
			for i := range 500 {
				var off int64
				var whence int
				switch i % 3 {
				case 0:
					whence, off = io.SeekStart, rng.Int64N(size+10)
				case 1:
					whence, off = io.SeekCurrent, rng.Int64N(size+10)-pos
				case 2:
					whence, off = io.SeekEnd, -rng.Int64N(size+1)
				}
				got, err := r.Seek(off, whence)
				if err != nil {
					t.Fatalf("Seek(%d, %d): %v", off, whence, err)
				}
				base := map[int]int64{io.SeekStart: 0, io.SeekCurrent: pos, io.SeekEnd: size}[whence]
				if got != base+off {
					t.Fatalf("Seek(%d, %d) = %d, want %d", off, whence, got, base+off)
				}
				pos = got
				p := buf[:rng.IntN(len(buf))+1]
				n, err := io.ReadFull(r, p)
				wantN := int(max(0, min(int64(len(p)), size-pos)))
				if n != wantN {
					t.Fatalf("read %d bytes at %d, want %d (%v)", n, pos, wantN, err)
				}
				if wantN < len(p) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("read past the end at %d: %v", pos, err)
				}
				if !bytes.Equal(p[:n], want[min(pos, size):min(pos, size)+int64(n)]) {
					t.Fatalf("bytes at %d+%d differ", pos, n)
				}
				pos += int64(n)
			}
			if _, err := r.Seek(-1, io.SeekStart); err == nil {
				t.Error("Seek to a negative offset succeeded")
			}
			if _, err := r.Seek(0, 7); err == nil {
				t.Error("Seek with an invalid whence succeeded")
			}
		})
	}
}

// TestServeContent serves an encrypted recording with Range requests, the
// way the recordings API streams audio.
func TestServeContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	left, right := audio(11, 5*8000)
	want := refWAV(left, right)
	record(t, path, testKey, audiofile.DefaultChunkSize, left, right)

	tests := []struct {
		rng        string
		status     int
		start, end int
	}{
		{"", http.StatusOK, 0, len(want)},
		{"bytes=0-43", http.StatusPartialContent, 0, 44},
		{"bytes=70000-140000", http.StatusPartialContent, 70000, 140001},
		{"bytes=-100", http.StatusPartialContent, len(want) - 100, len(want)},
		{"bytes=" + strconv.Itoa(len(want)-5) + "-", http.StatusPartialContent, len(want) - 5, len(want)},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r, err := audiofile.Open(path, testKey)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			req := httptest.NewRequest(http.MethodGet, "/rec", nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			rec := httptest.NewRecorder()
			http.ServeContent(rec, req, "rec.wav", time.Time{}, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Body.Bytes(); !bytes.Equal(got, want[tt.start:tt.end]) {
				t.Fatalf("body of %d bytes differs from want[%d:%d]", len(got), tt.start, tt.end)
			}
		})
	}
}

// openOrRead opens path and reads it all, returning the first error.
func openOrRead(path string, key []byte) error {
	r, err := audiofile.Open(path, key)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.ReadAll(r)
	return err
}

func TestTamper(t *testing.T) {
	dir := t.TempDir()
	left, right := audio(5, 8000)
	const cs = 1024
	orig := filepath.Join(dir, "orig.wav")
	record(t, orig, testKey, cs, left, right)
	good := mustRead(t, orig)
	rec := cs + audiofile.Overhead

	offsets := map[string]int{
		"chunk size":        9,
		"file id":           audiofile.ContainerHeader - 10,
		"reserved":          audiofile.ContainerHeader - 1,
		"header nonce":      audiofile.ContainerHeader,
		"header ciphertext": audiofile.ContainerHeader + 12 + 20,
		"header tag":        audiofile.DataStart - 1,
		"first data nonce":  audiofile.DataStart + 3,
		"first data body":   audiofile.DataStart + 500,
		"middle data":       audiofile.DataStart + 7*rec + 100,
		"middle data tag":   audiofile.DataStart + 8*rec - 1,
		"last byte":         len(good) - 1,
	}
	for name, off := range offsets {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(good)
			b[off] ^= 0x01
			path := filepath.Join(dir, "t.wav")
			mustWrite(t, path, b)
			if err := openOrRead(path, testKey); !errors.Is(err, audiofile.ErrAuth) {
				t.Fatalf("flipped byte %d: %v, want ErrAuth", off, err)
			}
		})
	}

	t.Run("magic", func(t *testing.T) {
		b := bytes.Clone(good)
		b[0] ^= 0x01
		path := filepath.Join(dir, "m.wav")
		mustWrite(t, path, b)
		if err := openOrRead(path, testKey); !errors.Is(err, audiofile.ErrFormat) {
			t.Fatalf("flipped magic: %v, want ErrFormat", err)
		}
	})

	other := filepath.Join(dir, "other.wav")
	record(t, other, testKey, cs, left, right) // same audio, same key, another file
	foreign := mustRead(t, other)
	recAt := func(b []byte, i int) []byte { // data record i >= 1
		off := audiofile.DataStart + (i-1)*rec
		return b[off : off+rec]
	}
	cases := map[string]func() []byte{
		"records swapped": func() []byte {
			b := bytes.Clone(good)
			r1, r2 := bytes.Clone(recAt(b, 1)), bytes.Clone(recAt(b, 2))
			copy(recAt(b, 1), r2)
			copy(recAt(b, 2), r1)
			return b
		},
		"record from another file": func() []byte {
			b := bytes.Clone(good)
			copy(recAt(b, 3), recAt(foreign, 3))
			return b
		},
		"header record from another file": func() []byte {
			b := bytes.Clone(good)
			copy(b[audiofile.ContainerHeader:audiofile.DataStart], foreign[audiofile.ContainerHeader:audiofile.DataStart])
			return b
		},
		"cut at a record boundary": func() []byte {
			n := (len(good) - audiofile.DataStart) / rec
			return bytes.Clone(good[:audiofile.DataStart+n*rec])
		},
		"cut to the header record": func() []byte { return bytes.Clone(good[:audiofile.DataStart]) },
		"cut mid record":           func() []byte { return bytes.Clone(good[:len(good)-5]) },
		"cut in the header":        func() []byte { return bytes.Clone(good[:20]) },
		"record appended": func() []byte {
			return append(bytes.Clone(good), recAt(good, 1)...)
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "c.wav")
			mustWrite(t, path, mk())
			if err := openOrRead(path, testKey); !errors.Is(err, audiofile.ErrAuth) {
				t.Fatalf("%v, want ErrAuth", err)
			}
		})
	}
}

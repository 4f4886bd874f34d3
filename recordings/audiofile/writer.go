package audiofile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Writer writes one recording. Its methods may be called from different
// goroutines.
type Writer struct {
	mu    sync.Mutex
	path  string // final name
	part  string // name while written
	f     *os.File
	c     *container // nil for a plain WAV
	state writerState
	err   error // first write error; the file is then only good to Abort
	// renamed is set once the file has its final name, so that Abort after
	// a failed Close removes it there.
	renamed bool

	buf  []byte // pending audio, one chunk
	n    int    // bytes of buf in use
	rec  []byte // scratch for a sealed record
	sent uint64 // data records sealed and written
	data int64  // audio bytes written, buffered ones included
}

type writerState uint8

const (
	writerOpen writerState = iota
	writerClosing
	writerDone
	writerAborted
)

// Create starts a new recording at path: it creates path+".part"
// exclusively with mode 0600 (and missing parent directories with mode
// 0750) and writes a provisional header. key is nil for a plain WAV or 32
// bytes for the encrypted container. It fails if path exists.
func Create(path string, key []byte) (*Writer, error) {
	return create(path, key, defaultChunkSize)
}

func create(path string, key []byte, chunkSize int) (w *Writer, err error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create recording directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create recording %s: %w", path, fs.ErrExist)
	}
	w = &Writer{path: path, part: path + PartSuffix, buf: make([]byte, chunkSize)}
	if key != nil {
		if w.c, err = newContainer(key, chunkSize); err != nil {
			return nil, fmt.Errorf("create recording: %w", err)
		}
		w.rec = make([]byte, 0, recordSize(chunkSize))
	}
	w.f, err = os.OpenFile(w.part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	defer func() {
		if err != nil {
			w.f.Close()
			os.Remove(w.part)
		}
	}()

	// The provisional header goes to disk now, unbuffered, so that any
	// leftover of this file is recognisable.
	head := wavHeader(0)
	if w.c == nil {
		if _, err := w.f.Write(head[:]); err != nil {
			return nil, fmt.Errorf("write recording header: %w", err)
		}
	} else {
		rec, err := w.c.seal(make([]byte, 0, headerRecordSize), head[:], 0, false)
		if err != nil {
			return nil, fmt.Errorf("seal recording header: %w", err)
		}
		if _, err := w.f.Write(append(w.c.header[:], rec...)); err != nil {
			return nil, fmt.Errorf("write recording header: %w", err)
		}
	}
	// The part file's name must survive a power cut, so that start-up
	// finds the leftover of every recording that was started.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	return w, nil
}

// WriteFrames appends one sample of each channel per index: left is the
// caller, right is ivrd or the agent. Both must have the same length. It
// buffers; a system call happens once per 64 KiB.
func (w *Writer) WriteFrames(left, right []int16) error {
	if len(left) != len(right) {
		return fmt.Errorf("write frames: %w: %d and %d samples", ErrUnevenFrames, len(left), len(right))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != writerOpen {
		return fmt.Errorf("write frames: %w", ErrClosed)
	}
	if w.err != nil {
		return w.err
	}
	if w.data+int64(len(left))*bytesPerFrame > maxDataBytes {
		return fmt.Errorf("write frames: %w", ErrTooLong)
	}
	for len(left) > 0 {
		// A full buffer is written only when more audio comes, so that the
		// last chunk of an encrypted file is still pending at Close and can
		// be sealed as final.
		if w.n == len(w.buf) {
			if err := w.flush(false); err != nil {
				w.err = err
				return err
			}
		}
		k := min(len(left), (len(w.buf)-w.n)/bytesPerFrame)
		b := w.buf[w.n : w.n+k*bytesPerFrame]
		for i := range k {
			binary.LittleEndian.PutUint16(b[4*i:], uint16(left[i]))
			binary.LittleEndian.PutUint16(b[4*i+2:], uint16(right[i]))
		}
		w.n += k * bytesPerFrame
		w.data += int64(k) * bytesPerFrame
		left, right = left[k:], right[k:]
	}
	return nil
}

// Samples returns the number of samples per channel written so far.
func (w *Writer) Samples() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.data / bytesPerFrame
}

// flush writes the pending audio: as is for a WAV, as the next data record
// for the container.
func (w *Writer) flush(final bool) error {
	if w.n == 0 {
		return nil
	}
	out := w.buf[:w.n]
	if w.c != nil {
		rec, err := w.c.seal(w.rec, out, w.sent+1, final)
		if err != nil {
			return fmt.Errorf("seal recording chunk: %w", err)
		}
		out = rec
	}
	if _, err := w.f.Write(out); err != nil {
		return fmt.Errorf("write recording: %w", err)
	}
	if w.c != nil {
		w.sent++
	}
	w.n = 0
	return nil
}

// Close writes the buffered audio and the final header, fsyncs the file,
// renames it from .part to its final name, fsyncs the directory, and
// returns the file's Info (its sha256 read back from disk). After an error
// the caller should Abort.
func (w *Writer) Close() (Info, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != writerOpen {
		return Info{}, fmt.Errorf("close recording: %w", ErrClosed)
	}
	w.state = writerClosing
	if w.err != nil {
		return Info{}, fmt.Errorf("close recording %s: %w", w.path, w.err)
	}
	inf, err := w.finish()
	if err != nil {
		w.err = err
		return Info{}, fmt.Errorf("close recording %s: %w", w.path, err)
	}
	w.state = writerDone
	return inf, nil
}

func (w *Writer) finish() (Info, error) {
	if err := w.flush(true); err != nil {
		return Info{}, err
	}
	head := wavHeader(uint32(w.data))
	if w.c == nil {
		if _, err := w.f.WriteAt(head[:], 0); err != nil {
			return Info{}, fmt.Errorf("write recording header: %w", err)
		}
	} else {
		// The header record is re-sealed under a new nonce; it is the final
		// record only when there is no audio.
		rec, err := w.c.seal(w.rec, head[:], 0, w.sent == 0)
		if err != nil {
			return Info{}, fmt.Errorf("seal recording header: %w", err)
		}
		if _, err := w.f.WriteAt(rec, fileHeaderSize); err != nil {
			return Info{}, fmt.Errorf("write recording header: %w", err)
		}
	}
	if err := w.f.Sync(); err != nil {
		return Info{}, fmt.Errorf("sync recording: %w", err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return Info{}, fmt.Errorf("close recording file: %w", err)
	}
	if err := os.Rename(w.part, w.path); err != nil {
		return Info{}, fmt.Errorf("rename recording: %w", err)
	}
	w.renamed = true
	if err := syncDir(filepath.Dir(w.path)); err != nil {
		return Info{}, err
	}
	return info(w.path, w.data, w.c != nil)
}

// Abort closes and removes the file. It is idempotent, cleans up after a
// failed Close, and does nothing after a successful Close (so it can be
// deferred).
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == writerDone || w.state == writerAborted {
		return nil
	}
	w.state = writerAborted
	if w.f != nil {
		w.f.Close() // the file is removed; its close error does not matter
		w.f = nil
	}
	name := w.part
	if w.renamed {
		name = w.path
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort recording: %w", err)
	}
	return nil
}

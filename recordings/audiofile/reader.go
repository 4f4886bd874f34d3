package audiofile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Reader reads the plaintext WAV of a stored recording. It is an
// io.ReadSeekCloser, so http.ServeContent can answer Range requests from
// it. It is not safe for concurrent use.
type Reader struct {
	f    *os.File
	size int64 // plaintext bytes
	pos  int64

	// Encrypted files only.
	c     *container
	lay   layout
	head  [wavHeaderSize]byte // plaintext of record 0
	rec   []byte              // ciphertext scratch
	chunk []byte              // plaintext of data record idx
	idx   int64               // 0 when chunk holds nothing
}

// Open returns the plaintext WAV of the recording at path, decrypting it
// when it is encrypted: key must then be given (else ErrNoKey), and a file
// that was tampered with, truncated or written under another key gives
// ErrAuth. A plain WAV is returned as stored, whatever key. Open
// authenticates the first and last records of an encrypted file; the
// others are checked as they are read.
func Open(path string, key []byte) (*Reader, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	r, err := newReader(f, key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording %s: %w", path, err)
	}
	return r, nil
}

func newReader(f *os.File, key []byte) (*Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	size := st.Size()
	var h [max(fileHeaderSize, wavHeaderSize)]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if n >= len(magic) && string(h[:len(magic)]) == magic {
		if key == nil {
			return nil, ErrNoKey
		}
		return newEncryptedReader(f, key, h[:n], size)
	}
	if !isRecordingHeader(h[:n]) {
		return nil, fmt.Errorf("%w: not an 8 kHz stereo PCM16 WAV", ErrFormat)
	}
	return &Reader{f: f, size: size}, nil
}

func newEncryptedReader(f *os.File, key, h []byte, size int64) (*Reader, error) {
	c, err := openContainer(key, h)
	if err != nil {
		return nil, err
	}
	lay, ok := layoutFor(size, c.chunkSize)
	if !ok {
		return nil, fmt.Errorf("%w: %d bytes is not a whole container", ErrAuth, size)
	}
	r := &Reader{
		f:     f,
		c:     c,
		lay:   lay,
		size:  wavHeaderSize + lay.data,
		rec:   make([]byte, recordSize(c.chunkSize)),
		chunk: make([]byte, 0, c.chunkSize),
	}
	rec := r.rec[:headerRecordSize]
	if _, err := f.ReadAt(rec, fileHeaderSize); err != nil {
		return nil, fmt.Errorf("read header record: %w", err)
	}
	pt, err := c.open(r.head[:0], rec, 0, lay.records == 0)
	if err != nil {
		return nil, err
	}
	if len(pt) != wavHeaderSize || !isRecordingHeader(pt) {
		return nil, fmt.Errorf("%w: header record is not a recording header", ErrFormat)
	}
	// The last record carries the final flag: checking it now turns a
	// truncated file into an error before anything is served.
	if lay.records > 0 {
		if err := r.load(lay.records); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Size returns the plaintext size: the size of the WAV.
func (r *Reader) Size() int64 { return r.size }

// load decrypts data record i into r.chunk.
func (r *Reader) load(i int64) error {
	if r.idx == i {
		return nil
	}
	n := r.c.chunkSize
	if i == r.lay.records {
		n = r.lay.lastLen
	}
	rec := r.rec[:recordSize(n)]
	if _, err := r.f.ReadAt(rec, r.c.recordOffset(i)); err != nil {
		return fmt.Errorf("read record %d: %w", i, err)
	}
	r.idx = 0
	pt, err := r.c.open(r.chunk[:0], rec, uint64(i), i == r.lay.records)
	if err != nil {
		return err
	}
	r.chunk, r.idx = pt, i
	return nil
}

// Read reads plaintext from the current offset.
func (r *Reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.c == nil {
		p = p[:min(int64(len(p)), r.size-r.pos)]
		n, err := r.f.ReadAt(p, r.pos)
		r.pos += int64(n)
		if errors.Is(err, io.EOF) && n > 0 {
			err = nil
		}
		return n, err
	}
	var n int
	for n < len(p) && r.pos < r.size {
		var src []byte
		if r.pos < wavHeaderSize {
			src = r.head[r.pos:]
		} else {
			off := r.pos - wavHeaderSize
			cs := int64(r.c.chunkSize)
			if err := r.load(1 + off/cs); err != nil {
				return n, err
			}
			src = r.chunk[off%cs:]
		}
		k := copy(p[n:], src)
		n += k
		r.pos += int64(k)
	}
	return n, nil
}

// Seek sets the offset of the next Read, in plaintext bytes.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return r.pos, fmt.Errorf("seek recording: invalid whence %d", whence)
	}
	if offset < 0 {
		return r.pos, fmt.Errorf("seek recording: negative offset %d", offset)
	}
	r.pos = offset
	return offset, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close recording: %w", err)
	}
	return nil
}

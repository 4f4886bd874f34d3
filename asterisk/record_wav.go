package asterisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// wavReader streams the samples of a recording Asterisk stored in its wav
// format: 8 kHz mono signed 16-bit PCM. It reads the file as it comes over
// HTTP, so a recording of any length costs one buffer, not its size.
type wavReader struct {
	r    io.Reader
	left int64 // bytes of the data chunk still to read; -1: up to EOF
	buf  []byte
}

// maxWAVHeader bounds the chunks read before the data chunk, so that a
// corrupt file cannot make the reader skip forever.
const maxWAVHeader = 64 << 10

// newWAVReader reads the header of a WAV file from r, up to the start of
// its data chunk, and checks the format.
func newWAVReader(r io.Reader) (*wavReader, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, fmt.Errorf("read recording header: %w: %w", ErrBadRecording, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, fmt.Errorf("read recording header: %w: not a RIFF/WAVE file", ErrBadRecording)
	}
	var (
		head    [8]byte
		haveFmt bool
		skipped int64
	)
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil, fmt.Errorf("read recording chunk: %w: %w", ErrBadRecording, err)
		}
		id, size := string(head[0:4]), int64(binary.LittleEndian.Uint32(head[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("read recording fmt chunk: %w: size %d", ErrBadRecording, size)
			}
			f := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, f); err != nil {
				return nil, fmt.Errorf("read recording fmt chunk: %w: %w", ErrBadRecording, err)
			}
			tag := binary.LittleEndian.Uint16(f[0:2])
			channels := binary.LittleEndian.Uint16(f[2:4])
			rate := binary.LittleEndian.Uint32(f[4:8])
			bits := binary.LittleEndian.Uint16(f[14:16])
			if tag != 1 || channels != 1 || rate != 8000 || bits != 16 {
				return nil, fmt.Errorf("read recording fmt chunk: %w: format %d, %d channel(s), %d Hz, %d bits (want PCM, 1, 8000, 16)",
					ErrBadRecording, tag, channels, rate, bits)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("read recording: %w: data chunk before fmt chunk", ErrBadRecording)
			}
			w := &wavReader{r: r, left: size, buf: make([]byte, 2*frameSamples)}
			// Asterisk writes the sizes when it closes the file; a file it
			// could not close says 0 and is read to its end.
			if size == 0 || size == 0xFFFFFFFF {
				w.left = -1
			}
			return w, nil
		default:
			skip := size + size&1
			skipped += skip
			if skipped > maxWAVHeader {
				return nil, fmt.Errorf("read recording: %w: no data chunk in the first %d bytes", ErrBadRecording, maxWAVHeader)
			}
			if _, err := io.CopyN(io.Discard, r, skip); err != nil {
				return nil, fmt.Errorf("skip recording chunk %q: %w: %w", id, ErrBadRecording, err)
			}
		}
	}
}

// read fills dst with the next samples and returns how many it read; 0
// with io.EOF at the end of the data. A file cut short ends at its last
// whole sample.
func (w *wavReader) read(dst []int16) (int, error) {
	n := min(len(dst), len(w.buf)/2)
	if w.left >= 0 {
		n = int(min(int64(n), w.left/2))
	}
	if n == 0 {
		return 0, io.EOF
	}
	got, err := io.ReadFull(w.r, w.buf[:2*n])
	if w.left > 0 {
		w.left -= int64(got)
	}
	k := got / 2
	for i := range k {
		dst[i] = int16(binary.LittleEndian.Uint16(w.buf[2*i:]))
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		w.left = 0
		if k == 0 {
			return 0, io.EOF
		}
	case err != nil:
		return k, fmt.Errorf("read recording data: %w", err)
	}
	return k, nil
}

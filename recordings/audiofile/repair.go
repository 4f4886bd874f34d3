package audiofile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Repair completes the leftover partPath of a recording interrupted by a
// crash and renames it to its final name (partPath without ".part").
//
// A WAV gets the sizes its length gives, less a torn trailing sample
// frame. An encrypted container keeps its longest run of authentic
// records, the rest being dropped as torn; its last record is re-sealed as
// final and its header record re-sealed with the sizes. A file too short
// to hold a header, in neither format, or whose header record does not
// authenticate under key gives an error wrapping ErrUnrepairable (the last
// also wraps ErrAuth). An encrypted leftover without a key gives ErrNoKey
// and is left as it is. Repair fails without touching anything if the
// final name exists.
func Repair(partPath string, key []byte) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, fmt.Errorf("repair recording: %w", err)
	}
	final, ok := strings.CutSuffix(partPath, PartSuffix)
	if !ok || final == "" || os.IsPathSeparator(final[len(final)-1]) {
		return Info{}, fmt.Errorf("repair recording %s: name does not end in %s", partPath, PartSuffix)
	}
	if _, err := os.Lstat(final); err == nil {
		return Info{}, fmt.Errorf("repair recording %s: %w", partPath, fs.ErrExist)
	}
	f, err := os.OpenFile(partPath, os.O_RDWR, 0)
	if err != nil {
		return Info{}, fmt.Errorf("repair recording: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()

	var h [max(fileHeaderSize, wavHeaderSize)]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Info{}, fmt.Errorf("repair recording %s: read header: %w", partPath, err)
	}
	var data int64
	encrypted := n >= len(magic) && string(h[:len(magic)]) == magic
	switch {
	case encrypted:
		if key == nil {
			return Info{}, fmt.Errorf("repair recording %s: %w", partPath, ErrNoKey)
		}
		data, err = repairContainer(f, key, h[:n])
	case isRecordingHeader(h[:n]):
		data, err = repairWAV(f)
	default:
		err = fmt.Errorf("%w: %d bytes, neither a recording wav nor a container", ErrUnrepairable, n)
	}
	if err != nil {
		return Info{}, fmt.Errorf("repair recording %s: %w", partPath, err)
	}

	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("repair recording %s: sync: %w", partPath, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return Info{}, fmt.Errorf("repair recording %s: close: %w", partPath, err)
	}
	if err := os.Rename(partPath, final); err != nil {
		return Info{}, fmt.Errorf("repair recording: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return Info{}, fmt.Errorf("repair recording %s: %w", partPath, err)
	}
	return info(final, data, encrypted)
}

// repairWAV fixes the sizes of a leftover WAV whose header is valid and
// returns its audio bytes.
func repairWAV(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	data := (st.Size() - wavHeaderSize) / bytesPerFrame * bytesPerFrame
	if data > maxDataBytes {
		return 0, fmt.Errorf("%w: %d bytes of audio do not fit a wav", ErrUnrepairable, data)
	}
	if err := f.Truncate(wavHeaderSize + data); err != nil {
		return 0, fmt.Errorf("truncate: %w", err)
	}
	head := wavHeader(uint32(data))
	if _, err := f.WriteAt(head[:], 0); err != nil {
		return 0, fmt.Errorf("write header: %w", err)
	}
	return data, nil
}

// repairContainer keeps the authentic records of a leftover container,
// seals the last as final and the header record with the sizes, and
// returns the audio bytes kept.
func repairContainer(f *os.File, key, h []byte) (int64, error) {
	c, err := openContainer(key, h)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnrepairable, err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	size := st.Size()
	if size < dataStart {
		return 0, fmt.Errorf("%w: %d bytes, shorter than a container header", ErrUnrepairable, size)
	}

	rec := make([]byte, recordSize(c.chunkSize))
	pt := make([]byte, 0, c.chunkSize)
	hr := rec[:headerRecordSize]
	if _, err := f.ReadAt(hr, fileHeaderSize); err != nil {
		return 0, fmt.Errorf("read header record: %w", err)
	}
	// The header record is provisional (not final) unless Close finished
	// a recording without audio.
	if _, err := c.open(pt[:0], hr, 0, false); err != nil {
		if _, err = c.open(pt[:0], hr, 0, true); err != nil {
			return 0, fmt.Errorf("%w: header record: %w", ErrUnrepairable, err)
		}
	}

	// Walk the data records; the first that does not authenticate, and
	// everything after it, is what a crash tore.
	var (
		kept      int64 // data records kept
		data      int64 // their audio bytes
		lastFinal bool  // the last kept record is already sealed as final
		lastLen   int
	)
	for off := int64(dataStart); off < size && !lastFinal; {
		n := int(min(int64(len(rec)), size-off))
		if n <= overhead {
			break
		}
		r := rec[:n]
		if _, err := f.ReadAt(r, off); err != nil {
			return 0, fmt.Errorf("read record %d: %w", kept+1, err)
		}
		idx := uint64(kept + 1)
		p, err := c.open(pt[:0], r, idx, false)
		if err != nil || n < len(rec) {
			// Only Close seals a final record, and a short one must be it.
			if p, err = c.open(pt[:0], r, idx, true); err != nil {
				break
			}
			lastFinal = true
		}
		if len(p)%bytesPerFrame != 0 {
			break // never written by Create; keep what is whole before it
		}
		kept++
		data += int64(len(p))
		lastLen = len(p)
		off += int64(n)
	}
	if data > maxDataBytes {
		return 0, fmt.Errorf("%w: %d bytes of audio do not fit a wav", ErrUnrepairable, data)
	}

	end := int64(dataStart)
	if kept > 0 {
		end = c.recordOffset(kept) + int64(recordSize(lastLen))
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("truncate: %w", err)
	}
	if kept > 0 && !lastFinal {
		off := c.recordOffset(kept)
		r := rec[:recordSize(lastLen)]
		if _, err := f.ReadAt(r, off); err != nil {
			return 0, fmt.Errorf("read record %d: %w", kept, err)
		}
		p, err := c.open(pt[:0], r, uint64(kept), false)
		if err != nil {
			return 0, err
		}
		sealed, err := c.seal(rec[:0], p, uint64(kept), true)
		if err != nil {
			return 0, err
		}
		if _, err := f.WriteAt(sealed, off); err != nil {
			return 0, fmt.Errorf("write record %d: %w", kept, err)
		}
	}
	head := wavHeader(uint32(data))
	sealed, err := c.seal(rec[:0], head[:], 0, kept == 0)
	if err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(sealed, fileHeaderSize); err != nil {
		return 0, fmt.Errorf("write header record: %w", err)
	}
	return data, nil
}

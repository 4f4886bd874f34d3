package audiofile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Audio format of every recording.
const (
	SampleRate = 8000 // samples per second and channel
	Channels   = 2    // left: the caller; right: ivrd or the agent
)

// PartSuffix ends the name of a recording being written.
const PartSuffix = ".part"

const (
	bytesPerFrame = Channels * 2 // one sample of each channel
	wavHeaderSize = 44
	// maxDataBytes is the largest data chunk a RIFF size (36 + data) can
	// describe, in whole frames.
	maxDataBytes = (0xFFFFFFFF - 36) / bytesPerFrame * bytesPerFrame
)

// Info describes a complete file.
type Info struct {
	Path      string        // final path
	Size      int64         // bytes on disk (as stored: ciphertext when encrypted)
	Duration  time.Duration // audio length (samples per channel / 8000)
	SHA256    string        // lowercase hex sha256 of the bytes on disk
	Encrypted bool
}

// duration returns the length of dataBytes of audio.
func duration(dataBytes int64) time.Duration {
	samples := dataBytes / bytesPerFrame
	return time.Duration(samples) * time.Second / SampleRate
}

// wavHeader returns the header of a recording with dataBytes of audio.
func wavHeader(dataBytes uint32) [wavHeaderSize]byte {
	var h [wavHeaderSize]byte
	copy(h[0:4], "RIFF")
	binary.LittleEndian.PutUint32(h[4:8], 36+dataBytes)
	copy(h[8:16], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:20], 16)
	binary.LittleEndian.PutUint16(h[20:22], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:24], Channels)
	binary.LittleEndian.PutUint32(h[24:28], SampleRate)
	binary.LittleEndian.PutUint32(h[28:32], SampleRate*bytesPerFrame)
	binary.LittleEndian.PutUint16(h[32:34], bytesPerFrame)
	binary.LittleEndian.PutUint16(h[34:36], 16)
	copy(h[36:40], "data")
	binary.LittleEndian.PutUint32(h[40:44], dataBytes)
	return h
}

// isRecordingHeader reports whether h is the header of a recording WAV,
// whatever its sizes (a leftover has provisional ones).
func isRecordingHeader(h []byte) bool {
	if len(h) < wavHeaderSize {
		return false
	}
	want := wavHeader(0)
	return bytes.Equal(h[0:4], want[0:4]) &&
		bytes.Equal(h[8:40], want[8:40])
}

// checkKey validates a key given for encryption; nil means none.
func checkKey(key []byte) error {
	if key != nil && len(key) != keySize {
		return fmt.Errorf("%w: got %d", ErrBadKey, len(key))
	}
	return nil
}

// Hash returns the lowercase hex sha256 and size of a file on disk.
func Hash(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash recording: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash recording %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// IsEncrypted reports whether the file at path is the encrypted container
// (it starts with the container's magic).
func IsEncrypted(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("check recording: %w", err)
	}
	defer f.Close()
	var m [len(magic)]byte
	if _, err := io.ReadFull(f, m[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, fmt.Errorf("check recording %s: %w", path, err)
	}
	return string(m[:]) == magic, nil
}

// info completes a file that has its final name.
func info(path string, dataBytes int64, encrypted bool) (Info, error) {
	sum, size, err := Hash(path)
	if err != nil {
		return Info{}, err
	}
	return Info{
		Path:      path,
		Size:      size,
		Duration:  duration(dataBytes),
		SHA256:    sum,
		Encrypted: encrypted,
	}, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// WAV format tags (the wFormatTag of the fmt chunk).
const (
	wavFormatPCM        = 0x0001
	wavFormatFloat      = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xFFFE
)

// maxWAVBytes bounds the audio read from one file (about 70 minutes of
// 8 kHz PCM16), so a corrupt header cannot make ReadWAV exhaust memory.
const maxWAVBytes = 64 << 20

// wavFormat is the part of the fmt chunk ReadWAV uses.
type wavFormat struct {
	tag           uint16
	channels      uint16
	sampleRate    uint32
	bitsPerSample uint16
}

func (f wavFormat) String() string {
	return fmt.Sprintf("%s, %d Hz, %d channel(s), %d bits", wavFormatName(f.tag), f.sampleRate, f.channels, f.bitsPerSample)
}

func wavFormatName(tag uint16) string {
	switch tag {
	case wavFormatPCM:
		return "PCM"
	case wavFormatFloat:
		return "IEEE float"
	case wavFormatALaw:
		return "A-law"
	case wavFormatMuLaw:
		return "μ-law"
	case 0x0002:
		return "MS ADPCM"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0055:
		return "MP3"
	case wavFormatExtensible:
		return "extensible"
	}
	return fmt.Sprintf("format 0x%04x", tag)
}

// ReadWAV reads a WAV file and returns its audio as 8 kHz PCM16 samples.
//
// It accepts 8 kHz mono PCM16, A-law or μ-law (also in a
// WAVE_FORMAT_EXTENSIBLE header). Any other format is an error wrapping
// ErrUnsupportedWAV that names the format found, so an admin knows what to
// convert. A data chunk shorter than its header says (as written by tools
// that stream to a pipe) is read up to its end.
func ReadWAV(r io.Reader) ([]int16, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, fmt.Errorf("read wav header: %w: %w", ErrInvalidWAV, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, fmt.Errorf("read wav header: %w: not a RIFF/WAVE file", ErrInvalidWAV)
	}

	var (
		format    wavFormat
		haveFmt   bool
		chunkHead [8]byte
	)
	for {
		if _, err := io.ReadFull(r, chunkHead[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("read wav: %w: no data chunk", ErrInvalidWAV)
			}
			return nil, fmt.Errorf("read wav chunk: %w", err)
		}
		id := string(chunkHead[0:4])
		size := binary.LittleEndian.Uint32(chunkHead[4:8])

		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("read wav fmt chunk: %w: size %d", ErrInvalidWAV, size)
			}
			buf := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, fmt.Errorf("read wav fmt chunk: %w: %w", ErrInvalidWAV, err)
			}
			format = wavFormat{
				tag:           binary.LittleEndian.Uint16(buf[0:2]),
				channels:      binary.LittleEndian.Uint16(buf[2:4]),
				sampleRate:    binary.LittleEndian.Uint32(buf[4:8]),
				bitsPerSample: binary.LittleEndian.Uint16(buf[14:16]),
			}
			// WAVE_FORMAT_EXTENSIBLE carries the real tag in the first two
			// bytes of its sub-format GUID.
			if format.tag == wavFormatExtensible && size >= 26 {
				format.tag = binary.LittleEndian.Uint16(buf[24:26])
			}
			if err := format.check(); err != nil {
				return nil, err
			}
			haveFmt = true

		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("read wav: %w: data chunk before fmt chunk", ErrInvalidWAV)
			}
			data, err := io.ReadAll(io.LimitReader(r, int64(min(size, maxWAVBytes))))
			if err != nil {
				return nil, fmt.Errorf("read wav data: %w", err)
			}
			return format.decode(data), nil

		default:
			// Skip LIST, fact, cue and other chunks; chunks are word aligned.
			skip := int64(size) + int64(size&1)
			if n, err := io.CopyN(io.Discard, r, skip); err != nil {
				return nil, fmt.Errorf("skip wav chunk %q: %w: %d of %d bytes", id, ErrInvalidWAV, n, skip)
			}
		}
	}
}

// check reports whether ReadWAV can play f.
func (f wavFormat) check() error {
	ok := f.channels == 1 && f.sampleRate == sampleRate
	switch f.tag {
	case wavFormatPCM:
		ok = ok && f.bitsPerSample == 16
	case wavFormatALaw, wavFormatMuLaw:
		ok = ok && f.bitsPerSample == 8
	default:
		ok = false
	}
	if !ok {
		return fmt.Errorf("read wav: %w: %s (want 8000 Hz mono PCM16, A-law or μ-law)", ErrUnsupportedWAV, f)
	}
	return nil
}

// decode converts data, in a format check accepted, to PCM16.
func (f wavFormat) decode(data []byte) []int16 {
	switch f.tag {
	case wavFormatALaw:
		out := make([]int16, len(data))
		DecodeAlaw(out, data)
		return out
	case wavFormatMuLaw:
		out := make([]int16, len(data))
		DecodeUlaw(out, data)
		return out
	}
	out := make([]int16, len(data)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out
}

// LoadWAV reads the WAV file at path; see ReadWAV.
func LoadWAV(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open wav: %w", err)
	}
	defer f.Close()
	samples, err := ReadWAV(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return samples, nil
}

// WriteWAV writes samples (interleaved when channels > 1) as a PCM16 WAV file.
func WriteWAV(w io.Writer, samples []int16, sampleRate, channels int) error {
	if sampleRate <= 0 || channels <= 0 || channels > 0xFFFF {
		return fmt.Errorf("write wav: invalid format %d Hz, %d channels", sampleRate, channels)
	}
	dataSize := 2 * len(samples)
	if uint64(dataSize)+36 > 0xFFFFFFFF {
		return fmt.Errorf("write wav: %d samples do not fit in a WAV file", len(samples))
	}
	var h [44]byte
	copy(h[0:4], "RIFF")
	binary.LittleEndian.PutUint32(h[4:8], uint32(36+dataSize))
	copy(h[8:16], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:20], 16)
	binary.LittleEndian.PutUint16(h[20:22], wavFormatPCM)
	binary.LittleEndian.PutUint16(h[22:24], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:28], uint32(sampleRate))
	binary.LittleEndian.PutUint32(h[28:32], uint32(sampleRate*channels*2))
	binary.LittleEndian.PutUint16(h[32:34], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:36], 16)
	copy(h[36:40], "data")
	binary.LittleEndian.PutUint32(h[40:44], uint32(dataSize))

	bw := bufio.NewWriter(w)
	if _, err := bw.Write(h[:]); err != nil {
		return fmt.Errorf("write wav header: %w", err)
	}
	var b [2]byte
	for _, s := range samples {
		binary.LittleEndian.PutUint16(b[:], uint16(s))
		if _, err := bw.Write(b[:]); err != nil {
			return fmt.Errorf("write wav data: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write wav data: %w", err)
	}
	return nil
}

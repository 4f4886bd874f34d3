package tts

import (
	"encoding/binary"
	"fmt"
)

// decodePCM16 reads a PCM16 WAV of any rate and channel count, as espeak-ng
// writes it, and returns its first channel and its rate. (media.ReadWAV only
// accepts what telephony plays: 8 kHz mono.)
func decodePCM16(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: not a WAV file", ErrBadOutput)
	}
	var rate, channels, bits int
	b = b[12:]
	for len(b) >= 8 {
		id, size := string(b[0:4]), int(binary.LittleEndian.Uint32(b[4:8]))
		b = b[8:]
		if size < 0 || size > len(b) {
			// A streamed WAV leaves the size unset: take what is there.
			size = len(b)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, 0, fmt.Errorf("%w: short fmt chunk", ErrBadOutput)
			}
			if tag := binary.LittleEndian.Uint16(b[0:2]); tag != 1 {
				return nil, 0, fmt.Errorf("%w: format tag %d, want PCM", ErrBadOutput, tag)
			}
			channels = int(binary.LittleEndian.Uint16(b[2:4]))
			rate = int(binary.LittleEndian.Uint32(b[4:8]))
			bits = int(binary.LittleEndian.Uint16(b[14:16]))
		case "data":
			if bits != 16 || channels < 1 || rate < 1 {
				return nil, 0, fmt.Errorf("%w: %d bits, %d channels, %d Hz", ErrBadOutput, bits, channels, rate)
			}
			frame := 2 * channels
			out := make([]int16, size/frame)
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(b[i*frame:]))
			}
			return out, rate, nil
		}
		// Chunks are padded to an even size.
		b = b[min(size+size&1, len(b)):]
	}
	return nil, 0, fmt.Errorf("%w: no data chunk", ErrBadOutput)
}

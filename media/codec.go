package media

// Codec is an RTP audio payload format.
type Codec struct {
	Name        string
	PayloadType uint8
	ClockRate   uint32
}

// The G.711 codecs, with their static RTP payload types (RFC 3551).
var (
	CodecPCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	CodecPCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
)

// Frame geometry: ivrd sends 20 ms packets of 8 kHz audio.
const (
	sampleRate      = 8000
	samplesPerFrame = 160
)

// funcs returns the codec's G.711 encoder and decoder and the byte of
// silence it encodes; ok is false for a codec ivrd does not play.
func (c Codec) funcs() (enc func(dst []byte, src []int16) int, dec func(dst []int16, src []byte) int, silence byte, ok bool) {
	switch c.Name {
	case CodecPCMU.Name:
		return EncodeUlaw, DecodeUlaw, ulawSilence, true
	case CodecPCMA.Name:
		return EncodeAlaw, DecodeAlaw, alawSilence, true
	}
	return nil, nil, 0, false
}

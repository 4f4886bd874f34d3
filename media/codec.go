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

// encoder returns the G.711 encoder for c and the byte that encodes silence,
// or ok false for a codec the session cannot send.
func (c Codec) encoder() (enc func(dst []byte, src []int16) int, silence byte, ok bool) {
	switch c.Name {
	case CodecPCMU.Name:
		return EncodeUlaw, ulawSilence, true
	case CodecPCMA.Name:
		return EncodeAlaw, alawSilence, true
	}
	return nil, 0, false
}

package media

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// legTrack is the leg's local audio track. It writes the relay's packets
// with their own payload types, so that telephone events reach the browser
// as such (webrtc.TrackLocalStaticRTP rewrites every packet to the codec's
// payload type).
type legTrack struct{ leg *WebRTCLeg }

// Bind is called once DTLS is up with the negotiated codecs: the first
// G.711 one is the leg's, with telephone-event/8000 if negotiated.
func (t *legTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	var chosen *webrtc.RTPCodecParameters
	var codec Codec
	var eventPT uint8
	for i, c := range codecs {
		if cc, ok := g711Codec(c.MimeType, c.PayloadType); ok && chosen == nil {
			chosen, codec = &codecs[i], cc
		}
		if strings.EqualFold(c.MimeType, mimeTelephoneEvent) && c.ClockRate == 8000 {
			eventPT = uint8(c.PayloadType)
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	l := t.leg
	l.txMu.Lock()
	l.bound, l.writer, l.ssrc = true, ctx.WriteStream(), uint32(ctx.SSRC())
	l.txCodec, l.eventPT = codec, eventPT
	l.txMu.Unlock()
	return *chosen, nil
}

// Unbind stops the writes.
func (t *legTrack) Unbind(webrtc.TrackLocalContext) error {
	l := t.leg
	l.txMu.Lock()
	l.bound, l.writer = false, nil
	l.txMu.Unlock()
	return nil
}

func (t *legTrack) ID() string                { return "audio" }
func (t *legTrack) RID() string               { return "" }
func (t *legTrack) StreamID() string          { return "ivrd" }
func (t *legTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// WebRTCLegStats are a WebRTC leg's packet counters.
type WebRTCLegStats struct {
	PacketsSent     uint64 // RTP packets written to the browser
	BytesSent       uint64 // their payload bytes
	PacketsReceived uint64 // RTP packets from the browser (decrypted)
	BytesReceived   uint64 // their payload bytes
	PacketsInvalid  uint64 // from the browser but not valid RTP
}

// WebRTCLeg is an agent's browser connected to ivrd: one audio peer
// connection (DTLS-SRTP over ICE) made by WebRTC.Answer. It is a Port:
// Bridge relays a call's audio to and from it. It satisfies ivr.Leg.
type WebRTCLeg struct {
	w     *WebRTC
	pc    *webrtc.PeerConnection
	log   *slog.Logger
	codec Codec // the audio codec of the answer, for logs and Codec

	relayOut atomic.Pointer[link]
	relayIn  atomic.Pointer[link]

	mu      sync.Mutex
	ended   bool
	reason  string
	dropped *time.Timer // the disconnected grace period running, if any
	wg      sync.WaitGroup

	done      chan struct{} // closed when the leg ended
	closed    chan struct{} // closed once the peer connection is closed
	connected chan struct{} // closed when ICE and DTLS first connect
	connOnce  sync.Once
	up        atomic.Bool // connected now: the stack has a path to write on

	// Send state, under txMu: set by the local track's Bind once DTLS is
	// up; written by the relay, frames on the bridged session's pacer and
	// telephone events at once.
	txMu      sync.Mutex
	bound     bool
	writer    webrtc.TrackLocalWriter
	ssrc      uint32
	txCodec   Codec
	eventPT   uint8
	seq       uint16
	tsBase    uint32    // timestamp at start
	start     time.Time // the leg's clock: timestamps count 8 kHz samples from it
	nextTS    uint32    // where the last frame sent ends
	lastTick  int64     // tick of the last frame sent, of lastPacer
	lastPacer *pacer    // the pacer that sent it
	hdr       rtp.Header
	frame     [samplesPerFrame]byte

	sent, sentBytes, received, receivedBytes, invalid atomic.Uint64
}

func newWebRTCLeg(w *WebRTC, pc *webrtc.PeerConnection, log *slog.Logger) *WebRTCLeg {
	l := &WebRTCLeg{
		w:         w,
		pc:        pc,
		log:       log,
		done:      make(chan struct{}),
		closed:    make(chan struct{}),
		connected: make(chan struct{}),
		start:     time.Now(),
	}
	l.seq, l.tsBase = randomStream()
	l.nextTS = l.tsBase
	l.lastTick = -2
	return l
}

// Connected is closed once the browser is connected (ICE and DTLS up):
// audio can flow from then on. A leg that ends first never closes it.
func (l *WebRTCLeg) Connected() <-chan struct{} { return l.connected }

// Codec returns the audio codec the answer settled on (PCMU or PCMA, with
// the offer's payload type).
func (l *WebRTCLeg) Codec() Codec { return l.codec }

// Done is closed when the leg ended: Hangup, or the peer connection failed,
// closed, or stayed disconnected past the grace period.
func (l *WebRTCLeg) Done() <-chan struct{} { return l.done }

// Hangup ends the leg: it closes the peer connection and returns once it
// is closed and the leg's goroutines have returned, or ctx is done. It is
// idempotent.
func (l *WebRTCLeg) Hangup(ctx context.Context, reason string) error {
	l.end(reason)
	if err := l.wait(ctx); err != nil {
		return fmt.Errorf("hang up webrtc leg: %w", err)
	}
	return nil
}

// Stats returns the leg's counters.
func (l *WebRTCLeg) Stats() WebRTCLegStats {
	return WebRTCLegStats{
		PacketsSent:     l.sent.Load(),
		BytesSent:       l.sentBytes.Load(),
		PacketsReceived: l.received.Load(),
		BytesReceived:   l.receivedBytes.Load(),
		PacketsInvalid:  l.invalid.Load(),
	}
}

// end marks the leg ended and closes the peer connection in the
// background (GracefulClose must not run on the connection's callbacks).
func (l *WebRTCLeg) end(reason string) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	l.reason = reason
	if l.dropped != nil {
		l.dropped.Stop()
	}
	close(l.done)
	l.mu.Unlock()
	go func() {
		defer close(l.closed)
		if err := l.pc.GracefulClose(); err != nil {
			l.log.Debug("close peer connection", "err", err)
		}
		l.wg.Wait()
		l.w.forget(l)
		st := l.Stats()
		l.log.Debug("webrtc leg ended", "reason", reason,
			"sent", st.PacketsSent, "received", st.PacketsReceived)
	}()
}

// wait waits for the peer connection to be closed.
func (l *WebRTCLeg) wait(ctx context.Context) error {
	select {
	case <-l.closed:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// onState ends the leg when its connection fails or closes, or stays
// disconnected for the grace period.
func (l *WebRTCLeg) onState(s webrtc.PeerConnectionState) {
	l.log.Debug("webrtc connection state", "state", s.String())
	switch s {
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		l.up.Store(false)
		l.end(s.String())
	case webrtc.PeerConnectionStateDisconnected:
		l.up.Store(false)
		l.mu.Lock()
		if !l.ended && l.dropped == nil {
			l.dropped = time.AfterFunc(l.w.grace, func() {
				if l.pc.ConnectionState() == webrtc.PeerConnectionStateDisconnected {
					l.end("disconnected")
				}
				l.mu.Lock()
				l.dropped = nil
				l.mu.Unlock()
			})
		}
		l.mu.Unlock()
	case webrtc.PeerConnectionStateConnected:
		l.up.Store(true)
		l.connOnce.Do(func() { close(l.connected) })
		l.mu.Lock()
		if l.dropped != nil {
			l.dropped.Stop()
			l.dropped = nil
		}
		l.mu.Unlock()
	}
}

// goRun runs f on a goroutine the leg waits for, unless it ended.
func (l *WebRTCLeg) goRun(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.wg.Go(f)
}

// goRTCP drains the RTCP the browser sends about the leg's audio: unread,
// it would pile up in the stack's buffers for the length of the call.
func (l *WebRTCLeg) goRTCP(sender *webrtc.RTPSender) {
	l.goRun(func() {
		buf := make([]byte, readBufferSize)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	})
}

// onTrack receives the browser's audio track.
func (l *WebRTCLeg) onTrack(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
	if tr.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	l.goRun(func() { l.receive(tr, rx) })
}

// rxCodecs are the payload types the browser may send.
type rxCodecs struct {
	pcmu, pcma, event    uint8
	hasPCMU, hasPCMA, ev bool
}

func negotiatedRx(rx *webrtc.RTPReceiver) rxCodecs {
	var c rxCodecs
	for _, p := range rx.GetParameters().Codecs {
		switch {
		case strings.EqualFold(p.MimeType, webrtc.MimeTypePCMU):
			c.pcmu, c.hasPCMU = uint8(p.PayloadType), true
		case strings.EqualFold(p.MimeType, webrtc.MimeTypePCMA):
			c.pcma, c.hasPCMA = uint8(p.PayloadType), true
		case strings.EqualFold(p.MimeType, mimeTelephoneEvent) && p.ClockRate == 8000:
			c.event, c.ev = uint8(p.PayloadType), true
		}
	}
	return c
}

// receive reads the browser's RTP (decrypted by the stack) until the leg
// ends, and hands it to the relay, if any. It does not allocate.
func (l *WebRTCLeg) receive(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
	codecs := negotiatedRx(rx)
	l.log.Debug("webrtc audio track", "ssrc", uint32(tr.SSRC()), "codec", tr.Codec().MimeType)
	buf := make([]byte, readBufferSize)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				select {
				case <-l.done:
				default:
					l.log.Debug("read webrtc rtp", "err", err)
				}
			}
			return
		}
		h, payload, err := ParseRTP(buf[:n])
		if err != nil {
			l.invalid.Add(1)
			continue
		}
		l.received.Add(1)
		l.receivedBytes.Add(uint64(len(payload)))
		lk := l.relayOut.Load()
		if lk == nil {
			continue
		}
		switch {
		case codecs.hasPCMU && h.PayloadType == codecs.pcmu:
			lk.audio(&h, payload, CodecPCMU)
		case codecs.hasPCMA && h.PayloadType == codecs.pcma:
			lk.audio(&h, payload, CodecPCMA)
		case codecs.ev && h.PayloadType == codecs.event:
			off := cap(buf) - cap(payload)
			lk.event(&h, buf, off, off+len(payload))
		default:
			lk.drop()
		}
	}
}

func (l *WebRTCLeg) portDone() <-chan struct{} { return l.done }

func (l *WebRTCLeg) portLog() *slog.Logger { return l.log }

func (l *WebRTCLeg) bindRelay(out, in *link) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ended:
		return ErrClosed
	case l.relayOut.Load() != nil || l.relayIn.Load() != nil:
		return ErrBridged
	}
	l.relayIn.Store(in)
	l.relayOut.Store(out)
	return nil
}

func (l *WebRTCLeg) unbindRelay(out, in *link) {
	l.relayOut.CompareAndSwap(out, nil)
	l.relayIn.CompareAndSwap(in, nil)
}

func (l *WebRTCLeg) relayAccepts() bool { return l.up.Load() }

// relayTick sends the frame of tick k of the bridged session's pacer from
// the relay's queue to the browser, in the leg's stream: the next sequence
// number, the timestamp of the tick's deadline on the leg's clock, the
// marker bit on the first frame after a gap. The leg has no pacer: the
// session it is bridged to calls this on its own ticks, so the browser
// gets an even stream as a phone does. It records nothing.
//
// The write (SRTP, then the ICE connection's UDP socket) runs on the
// pacer. It is only made while the connection is up: without a selected
// candidate pair the ICE stack would wait for its own goroutine.
func (l *WebRTCLeg) relayTick(in *link, k int64) []int16 {
	in.mu.Lock()
	defer in.mu.Unlock()
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if !l.bound || !l.up.Load() {
		if ok, _, _ := in.frame(l.frame[:], CodecPCMU); ok {
			in.drop()
		}
		return nil
	}
	ok, start, converted := in.frame(l.frame[:], l.txCodec)
	if !ok {
		return nil
	}
	p := in.driver.pacer
	ts := l.tickTS(p, k)
	if int32(ts-l.nextTS) < 0 {
		// Paced by another pacer than before, whose tick is not as far on
		// as the last frame went: timestamps never go back.
		l.tsBase += l.nextTS - ts
		ts = l.nextTS
	}
	l.hdr = rtp.Header{
		Version:        2,
		Marker:         start || p != l.lastPacer || l.lastTick != k-1,
		PayloadType:    l.txCodec.PayloadType,
		SequenceNumber: l.seq,
		Timestamp:      ts,
		SSRC:           l.ssrc,
	}
	if _, err := l.writer.WriteRTP(&l.hdr, l.frame[:]); err != nil {
		in.drop()
		return nil
	}
	l.seq++
	l.nextTS = ts + samplesPerFrame
	l.lastTick, l.lastPacer = k, p
	l.sent.Add(1)
	l.sentBytes.Add(samplesPerFrame)
	in.sent(samplesPerFrame, false, converted)
	return nil
}

// tickTS returns the timestamp of tick k of p on the leg's clock: the
// samples from the leg's start to the tick's deadline. Consecutive ticks
// of one pacer are 160 apart.
func (l *WebRTCLeg) tickTS(p *pacer, k int64) uint32 {
	return l.tsBase + uint32(p.deadline(k).Sub(l.start)/(time.Second/sampleRate))
}

// relayEvent sends the telephone-event packet of in to the browser at
// once, with the leg's event payload type, its next sequence number and,
// for the event's timestamp, that of the frame due now.
func (l *WebRTCLeg) relayEvent(in *link) {
	pk := &in.pk
	payload := pk.payload()
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if !l.bound || !l.up.Load() || l.eventPT == 0 {
		in.drop()
		return
	}
	p := in.driver.pacer
	l.hdr = rtp.Header{
		Version:        2,
		Marker:         pk.h.Marker,
		PayloadType:    l.eventPT,
		SequenceNumber: l.seq,
		Timestamp:      in.eventTS(&pk.h, l.tickTS(p, p.due(time.Now()))),
		SSRC:           l.ssrc,
	}
	if _, err := l.writer.WriteRTP(&l.hdr, payload); err != nil {
		in.drop()
		return
	}
	l.seq++
	l.sent.Add(1)
	l.sentBytes.Add(uint64(len(payload)))
	in.sent(len(payload), true, false)
}

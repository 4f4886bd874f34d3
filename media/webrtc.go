package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// mimeTelephoneEvent is RFC 4733's media type.
const mimeTelephoneEvent = "audio/telephone-event"

// Payload types ivrd offers to register; an answer takes the offer's own.
const (
	webrtcEventPT = 101
)

// defaultDisconnectedGrace is how long a WebRTC leg may stay disconnected
// (ICE consent lost: the browser's network changed, a laptop lid) before
// it counts as ended; ICE often recovers within it.
const defaultDisconnectedGrace = 5 * time.Second

// WebRTCConfig configures the WebRTC agent legs.
type WebRTCConfig struct {
	// IPs are the local addresses offered as ICE host candidates; empty
	// means every address of every interface that is up. A loopback
	// address here implies IncludeLoopback.
	IPs []netip.Addr
	// NAT1To1IPs are public addresses announced in the host candidates
	// instead of the local ones (a server behind 1:1 NAT), if any.
	NAT1To1IPs []string
	// PortMin and PortMax bound the UDP ports ICE binds; 0, 0 means any
	// ephemeral port.
	PortMin, PortMax int
	// IncludeLoopback offers loopback candidates: tests, and a browser on
	// the same host as ivrd (Chromium needs
	// --allow-loopback-in-peer-connection to use them).
	IncludeLoopback bool
	// DisconnectedGrace is how long a leg may stay disconnected before it
	// ends; 0 means 5 s.
	DisconnectedGrace time.Duration
	// Logger receives the logs of the WebRTC stack; nil means
	// slog.Default().
	Logger *slog.Logger
}

// WebRTC answers browsers' offers with audio-only peer connections whose
// legs relay to calls (Bridge). It offers G.711 only (PCMU, PCMA and
// telephone-event/8000), which every browser supports: a browser leg needs
// no Opus, and a G.711 call no transcoding.
type WebRTC struct {
	api   *webrtc.API
	log   *slog.Logger
	grace time.Duration

	mu     sync.Mutex
	closed bool
	legs   map[*WebRTCLeg]struct{}
}

// NewWebRTC validates cfg and builds the WebRTC stack.
func NewWebRTC(cfg WebRTCConfig) (*WebRTC, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DisconnectedGrace < 0 {
		return nil, fmt.Errorf("new webrtc: negative disconnected grace %v", cfg.DisconnectedGrace)
	}
	if cfg.DisconnectedGrace == 0 {
		cfg.DisconnectedGrace = defaultDisconnectedGrace
	}

	var m webrtc.MediaEngine
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: webrtc.PayloadType(CodecPCMU.PayloadType)},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: webrtc.PayloadType(CodecPCMA.PayloadType)},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-16"}, PayloadType: webrtcEventPT},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("new webrtc: register %s: %w", c.MimeType, err)
		}
	}

	var s webrtc.SettingEngine
	s.LoggerFactory = slogFactory{cfg.Logger}
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	loopback := cfg.IncludeLoopback
	if len(cfg.IPs) > 0 {
		allowed := make(map[netip.Addr]bool, len(cfg.IPs))
		for _, ip := range cfg.IPs {
			if !ip.IsValid() {
				return nil, errors.New("new webrtc: invalid IP address")
			}
			ip = ip.Unmap()
			allowed[ip] = true
			loopback = loopback || ip.IsLoopback()
		}
		s.SetIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			return ok && allowed[a.Unmap()]
		})
	}
	s.SetIncludeLoopbackCandidate(loopback)
	switch {
	case cfg.PortMin == 0 && cfg.PortMax == 0:
	case cfg.PortMin <= 0 || cfg.PortMax > 65535 || cfg.PortMax < cfg.PortMin:
		return nil, fmt.Errorf("new webrtc: invalid udp port range %d-%d", cfg.PortMin, cfg.PortMax)
	default:
		if err := s.SetEphemeralUDPPortRange(uint16(cfg.PortMin), uint16(cfg.PortMax)); err != nil {
			return nil, fmt.Errorf("new webrtc: %w", err)
		}
	}
	if len(cfg.NAT1To1IPs) > 0 {
		if err := s.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.NAT1To1IPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("new webrtc: nat 1:1 addresses: %w", err)
		}
	}

	api := webrtc.NewAPI(
		webrtc.WithMediaEngine(&m),
		webrtc.WithSettingEngine(s),
		// No interceptors: NACK, TWCC and the like serve video, and audio
		// in a browser plays without RTCP reports; the per-packet path
		// stays lean.
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
	)
	return &WebRTC{api: api, log: cfg.Logger, grace: cfg.DisconnectedGrace, legs: make(map[*WebRTCLeg]struct{})}, nil
}

// Answer answers a browser's SDP offer (audio, with PCMU or PCMA among its
// codecs) and returns the agent's leg with the complete SDP answer: ICE
// gathering is done when it returns (no trickle), bounded by ctx. log is
// the call's logger; nil means the WebRTC's.
//
// The leg receives the browser's audio as soon as ICE and DTLS are up and
// sends what a relay writes to it (Bridge); nothing is sent before that.
func (w *WebRTC) Answer(ctx context.Context, offer string, log *slog.Logger) (*WebRTCLeg, string, error) {
	if log == nil {
		log = w.log
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return nil, "", fmt.Errorf("answer webrtc offer: %w", ErrClosed)
	}
	pc, err := w.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("answer webrtc offer: %w", err)
	}
	l := newWebRTCLeg(w, pc, log)
	fail := func(err error) (*WebRTCLeg, string, error) {
		l.end("failed")
		l.wait(context.Background())
		return nil, "", fmt.Errorf("answer webrtc offer: %w", err)
	}
	pc.OnTrack(l.onTrack)
	pc.OnConnectionStateChange(l.onState)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	if !offersG711(pc) {
		return fail(fmt.Errorf("%w: the offer has no audio in PCMU or PCMA", ErrUnsupportedCodec))
	}
	sender, err := pc.AddTrack(&legTrack{leg: l})
	if err != nil {
		return fail(err)
	}
	l.goRTCP(sender)
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(fmt.Errorf("gather ice candidates: %w", context.Cause(ctx)))
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fail(ErrClosed)
	}
	w.legs[l] = struct{}{}
	w.mu.Unlock()
	l.codec = sendCodec(sender)
	log.Debug("webrtc offer answered", "codec", l.codec.Name)
	return l, pc.LocalDescription().SDP, nil
}

// Close hangs up every leg and refuses new offers.
func (w *WebRTC) Close() error {
	w.mu.Lock()
	w.closed = true
	legs := make([]*WebRTCLeg, 0, len(w.legs))
	for l := range w.legs {
		legs = append(legs, l)
	}
	w.mu.Unlock()
	for _, l := range legs {
		l.Hangup(context.Background(), "shutdown")
	}
	return nil
}

func (w *WebRTC) forget(l *WebRTCLeg) {
	w.mu.Lock()
	delete(w.legs, l)
	w.mu.Unlock()
}

// offersG711 reports whether the remote offer left an audio transceiver
// with PCMU or PCMA negotiated.
func offersG711(pc *webrtc.PeerConnection) bool {
	for _, t := range pc.GetTransceivers() {
		if t.Kind() != webrtc.RTPCodecTypeAudio || t.Receiver() == nil {
			continue
		}
		for _, c := range t.Receiver().GetParameters().Codecs {
			if _, ok := g711Codec(c.MimeType, c.PayloadType); ok {
				return true
			}
		}
	}
	return false
}

// sendCodec is the audio codec the answer settled on for sender: the first
// G.711 codec of its parameters.
func sendCodec(sender *webrtc.RTPSender) Codec {
	for _, c := range sender.GetParameters().Codecs {
		if codec, ok := g711Codec(c.MimeType, c.PayloadType); ok {
			return codec
		}
	}
	return Codec{}
}

// g711Codec returns the Codec of a negotiated media type, with its
// negotiated payload type.
func g711Codec(mime string, pt webrtc.PayloadType) (Codec, bool) {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypePCMU):
		return Codec{Name: CodecPCMU.Name, PayloadType: uint8(pt), ClockRate: 8000}, true
	case strings.EqualFold(mime, webrtc.MimeTypePCMA):
		return Codec{Name: CodecPCMA.Name, PayloadType: uint8(pt), ClockRate: 8000}, true
	}
	return Codec{}, false
}

// slogFactory routes the WebRTC stack's logs to slog: its errors and
// warnings as such, its info and debug messages at debug level (connection
// state changes and the like are the call's own logs), trace dropped.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l slogLogger) Trace(string)                   {}
func (l slogLogger) Tracef(string, ...any)          {}
func (l slogLogger) Debug(msg string)               { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Debugf(format string, a ...any) { l.logf(slog.LevelDebug, format, a...) }
func (l slogLogger) Info(msg string)                { l.logf(slog.LevelDebug, "%s", msg) }
func (l slogLogger) Infof(format string, a ...any)  { l.logf(slog.LevelDebug, format, a...) }
func (l slogLogger) Warn(msg string)                { l.logf(slog.LevelWarn, "%s", msg) }
func (l slogLogger) Warnf(format string, a ...any)  { l.logf(slog.LevelWarn, format, a...) }
func (l slogLogger) Error(msg string)               { l.logf(slog.LevelError, "%s", msg) }
func (l slogLogger) Errorf(format string, a ...any) { l.logf(slog.LevelError, format, a...) }

// randomStream returns a random SSRC-free stream start: sequence number and
// timestamp base.
func randomStream() (uint16, uint32) { return uint16(rand.Uint32()), rand.Uint32() }

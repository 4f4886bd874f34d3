package asterisk_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/media"
)

// browser is a WebRTC peer standing in for the agent desk in a browser:
// it offers audio in one G.711 codec, sends a tone and keeps what it hears.
type browser struct {
	pc    *webrtc.PeerConnection
	codec media.Codec
	track *webrtc.TrackLocalStaticSample

	mu  sync.Mutex
	got []int16
	rx  int
}

func newBrowser(t *testing.T, codec media.Codec) *browser {
	t.Helper()
	mime := webrtc.MimeTypePCMU
	if codec.Name == media.CodecPCMA.Name {
		mime = webrtc.MimeTypePCMA
	}
	var m webrtc.MediaEngine
	capability := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: capability, PayloadType: webrtc.PayloadType(codec.PayloadType)}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	var s webrtc.SettingEngine
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(&m), webrtc.WithSettingEngine(s)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{pc: pc, codec: codec}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	b.track, err = webrtc.NewTrackLocalStaticSample(capability, "audio", "agent")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(b.track); err != nil {
		t.Fatal(err)
	}
	decode := media.DecodeUlaw
	if codec.Name == media.CodecPCMA.Name {
		decode = media.DecodeAlaw
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		pcm := make([]int16, 1500)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.PayloadType != codec.PayloadType {
				continue
			}
			n := decode(pcm, pkt.Payload)
			b.mu.Lock()
			b.got = append(b.got, pcm[:n]...)
			b.rx++
			b.mu.Unlock()
		}
	})
	return b
}

// offer returns the browser's complete SDP offer (ICE gathered).
func (b *browser) offer(t *testing.T) string {
	t.Helper()
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return b.pc.LocalDescription().SDP
}

func (b *browser) answer(t *testing.T, sdp string) {
	t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}

// send sends samples as 20 ms packets in real time until stop is closed.
func (b *browser) send(samples []int16, stop <-chan struct{}) {
	encode := media.EncodeUlaw
	if b.codec.Name == media.CodecPCMA.Name {
		encode = media.EncodeAlaw
	}
	start := time.Now()
	for i := 0; (i+1)*160 <= len(samples); i++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond))):
		}
		payload := make([]byte, 160)
		encode(payload, samples[i*160:(i+1)*160])
		if err := b.track.WriteSample(pionmedia.Sample{Data: payload, Duration: 20 * time.Millisecond}); err != nil {
			return
		}
	}
}

func (b *browser) received() (int, []int16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rx, slices.Clone(b.got)
}

// An agent taking the call in the browser, under Asterisk: a WebRTC peer
// (DTLS-SRTP over ICE on loopback) offers audio in PCMU, then in PCMA; its
// *media.WebRTCLeg is bridged to a sipp caller through an ExternalMedia
// channel of the same codec; audio flows both ways for more than 3 s, each
// side hears the other's tone, the recording has the caller left and the
// agent right. The agent hangs up on the desk (the leg's Hangup): Bridge
// returns nil, and nothing is left in Asterisk or in ivrd's RTP.
func TestAgentBridgedWebRTC(t *testing.T) {
	for _, codec := range []media.Codec{media.CodecPCMU, media.CodecPCMA} {
		t.Run(codec.Name, func(t *testing.T) {
			noLeaks(t)
			ast := recordingAsterisk(t, asterisktest.Options{})
			ep, err := media.NewEndpoint(media.EndpointConfig{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 42000, PortMax: 42999})
			if err != nil {
				t.Fatal(err)
			}
			defer ep.Close()
			w, err := media.NewWebRTC(media.WebRTCConfig{
				IPs:    []netip.Addr{netip.MustParseAddr("127.0.0.1")},
				Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			b := newBrowser(t, codec)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			leg, answer, err := w.Answer(ctx, b.offer(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer leg.Hangup(context.Background(), "test over")
			if leg.Codec().Name != codec.Name {
				t.Fatalf("the leg negotiated %s, want %s", leg.Codec().Name, codec.Name)
			}
			b.answer(t, answer)
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() { defer close(sent); b.send(tone(agentHz, 30*time.Second), stop) }()
			defer func() { close(stop); <-sent }()
			bridgeToPort(t, ast, ep, leg, codec, b.received)
		})
	}
}

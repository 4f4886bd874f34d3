package media

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// browser is the agent's side of a WebRTC leg for the tests: a pion peer
// connection that makes the offer as Chromium does (Opus first, then G.722,
// PCMU, PCMA, CN, telephone-event at 48 and 8 kHz), sends RTP with any
// payload type from its own track and keeps every packet it receives.
type browser struct {
	t     testing.TB
	pc    *webrtc.PeerConnection
	track *rawTrack

	mu      sync.Mutex
	got     []rtp.Packet
	discard bool // count packets only
	count   int
	wg      sync.WaitGroup
}

func newBrowser(t testing.TB) *browser { return newBrowserWith(t, nil) }

// newBrowserWith applies set to the browser's setting engine.
func newBrowserWith(t testing.TB, set func(*webrtc.SettingEngine)) *browser {
	t.Helper()
	var m webrtc.MediaEngine
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000}, PayloadType: 9},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/CN", ClockRate: 8000}, PayloadType: 13},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 48000}, PayloadType: 110},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 8000}, PayloadType: 126},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.LoggerFactory = slogFactory{quietLogger()}
	if set != nil {
		set(&s)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&m), webrtc.WithSettingEngine(s), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, pc: pc, track: &rawTrack{bound: make(chan struct{})}}
	t.Cleanup(b.close)
	if _, err := pc.AddTrack(b.track); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.wg.Add(1)
		defer b.wg.Done()
		buf := make([]byte, readBufferSize)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			b.mu.Lock()
			b.count++
			if !b.discard {
				var p rtp.Packet
				if p.Unmarshal(slices.Clone(buf[:n])) == nil {
					b.got = append(b.got, p)
				}
			}
			b.mu.Unlock()
		}
	})
	return b
}

func (b *browser) close() {
	b.pc.GracefulClose()
	b.wg.Wait()
}

// offer returns the complete offer (ICE gathered).
func (b *browser) offer() string {
	b.t.Helper()
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(o); err != nil {
		b.t.Fatal(err)
	}
	<-gathered
	return b.pc.LocalDescription().SDP
}

// connectBrowser answers b's offer and waits for both sides to be
// connected.
func connectBrowser(t testing.TB, w *WebRTC, b *browser) *WebRTCLeg {
	t.Helper()
	leg, sdp := answer(t, w, b.offer())
	select {
	case <-leg.Connected():
		t.Fatal("leg connected before the browser had the answer")
	default:
	}
	b.accept(sdp)
	waitDone(t, leg.Connected(), 10*time.Second, "leg connected")
	deadline := time.Now().Add(10 * time.Second)
	for leg.pc.ConnectionState() != webrtc.PeerConnectionStateConnected || b.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected within 10 s: leg %v, browser %v", leg.pc.ConnectionState(), b.pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitDone(t, b.track.bound, 5*time.Second, "browser track bound")
	return leg
}

func (b *browser) accept(answer string) {
	b.t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) packets() []rtp.Packet {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// rawTrack sends packets with the payload type given, as a browser sends
// audio and telephone events on one track.
type rawTrack struct {
	bound chan struct{}
	once  sync.Once

	mu     sync.Mutex
	writer webrtc.TrackLocalWriter
	ssrc   uint32
	hdr    rtp.Header
}

func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypePCMU) {
			r.mu.Lock()
			r.writer, r.ssrc = ctx.WriteStream(), uint32(ctx.SSRC())
			r.mu.Unlock()
			r.once.Do(func() { close(r.bound) })
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (r *rawTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rawTrack) ID() string                            { return "mic" }
func (r *rawTrack) RID() string                           { return "" }
func (r *rawTrack) StreamID() string                      { return "desk" }
func (r *rawTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }

func (r *rawTrack) send(pt uint8, seq uint16, ts uint32, marker bool, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hdr = rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: r.ssrc, Marker: marker}
	_, err := r.writer.WriteRTP(&r.hdr, payload)
	return err
}

func newTestWebRTC(t testing.TB, cfg WebRTCConfig) *WebRTC {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	w, err := NewWebRTC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func answer(t testing.TB, w *WebRTC, offer string) (*WebRTCLeg, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, sdp, err := w.Answer(ctx, offer, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangup(t, leg) })
	return leg, sdp
}

func hangup(t testing.TB, leg *WebRTCLeg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leg.Hangup(ctx, "test over"); err != nil {
		t.Errorf("hang up: %v", err)
	}
}

// connect answers a browser's offer and waits for both sides to be
// connected (ICE and DTLS up).
func connect(t testing.TB, w *WebRTC) (*WebRTCLeg, *browser) {
	t.Helper()
	b := newBrowser(t)
	return connectBrowser(t, w, b), b
}

// Answers to Chromium 156's offers: with the microphone granted (host
// candidates on raw addresses) and without it (mDNS .local candidates).
// The answer keeps audio in PCMU first, PCMA and telephone-event/8000, and
// no Opus; its candidates are gathered and on the configured address.
func TestWebRTCAnswerChromiumOffer(t *testing.T) {
	for _, file := range []string{"chromium156-offer.sdp", "chromium156-offer-mdns.sdp"} {
		t.Run(file, func(t *testing.T) {
			offer, err := os.ReadFile("testdata/webrtc/" + file)
			if err != nil {
				t.Fatal(err)
			}
			w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}, PortMin: 42000, PortMax: 42100})
			leg, sdp := answer(t, w, string(offer))
			if leg.Codec().Name != "PCMU" || leg.Codec().PayloadType != 0 {
				t.Errorf("codec %+v, want PCMU/0", leg.Codec())
			}
			var mline string
			var candidates []string
			for _, line := range strings.Split(sdp, "\r\n") {
				switch {
				case strings.HasPrefix(line, "m=audio"):
					mline = line
				case strings.HasPrefix(line, "a=candidate:"):
					candidates = append(candidates, line)
				}
			}
			if !strings.HasSuffix(mline, "UDP/TLS/RTP/SAVPF 0 8 126") {
				t.Errorf("m-line %q, want PCMU, PCMA and telephone-event/8000", mline)
			}
			for _, want := range []string{"a=rtpmap:0 PCMU/8000", "a=rtpmap:126 telephone-event/8000", "a=setup:active", "a=sendrecv", "a=end-of-candidates"} {
				if !strings.Contains(sdp, want) {
					t.Errorf("answer lacks %q", want)
				}
			}
			if strings.Contains(strings.ToLower(sdp), "opus") {
				t.Error("answer has opus")
			}
			if len(candidates) == 0 {
				t.Fatal("answer has no candidate")
			}
			for _, c := range candidates {
				f := strings.Fields(c)
				if len(f) < 8 || f[2] != "udp" || f[4] != "127.0.0.1" || f[7] != "host" {
					t.Errorf("candidate %q, want a udp host candidate on 127.0.0.1", c)
				}
				if port := f[5]; port < "42000" || port > "42100" || len(port) != 5 {
					t.Errorf("candidate port %s outside 42000-42100", port)
				}
			}
		})
	}
}

func TestWebRTCAnswerErrors(t *testing.T) {
	opusOnly := func(t *testing.T) string {
		var m webrtc.MediaEngine
		m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio)
		pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(&m)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.GracefulClose()
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return o.SDP
	}
	tests := []struct {
		name  string
		offer func(t *testing.T) string
		want  error
	}{
		{"opus only", opusOnly, ErrUnsupportedCodec},
		{"not sdp", func(*testing.T) string { return "hello" }, nil},
	}
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leg, sdp, err := w.Answer(context.Background(), tt.offer(t), quietLogger())
			if err == nil || leg != nil || sdp != "" {
				t.Fatalf("Answer: %v, %v, %q", leg, err, sdp)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Answer: %v, want %v", err, tt.want)
			}
		})
	}
	// A context that ends before gathering does.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := w.Answer(ctx, newBrowser(t).offer(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Answer with a canceled context: %v", err)
	}
}

func TestNewWebRTCConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  WebRTCConfig
		ok   bool
	}{
		{"defaults", WebRTCConfig{}, true},
		{"port range", WebRTCConfig{PortMin: 10000, PortMax: 10100}, true},
		{"inverted range", WebRTCConfig{PortMin: 10100, PortMax: 10000}, false},
		{"half range", WebRTCConfig{PortMin: 10000}, false},
		{"range too high", WebRTCConfig{PortMin: 10000, PortMax: 70000}, false},
		{"invalid ip", WebRTCConfig{IPs: []netip.Addr{{}}}, false},
		{"negative grace", WebRTCConfig{DisconnectedGrace: -time.Second}, false},
		{"nat", WebRTCConfig{NAT1To1IPs: []string{"203.0.113.7"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = quietLogger()
			w, err := NewWebRTC(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewWebRTC: %v, want ok %v", err, tt.ok)
			}
			if w != nil {
				w.Close()
			}
		})
	}
}

// NAT 1:1 addresses replace the host candidates' addresses.
func TestWebRTCNAT1To1(t *testing.T) {
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}, NAT1To1IPs: []string{"203.0.113.7"}})
	_, sdp := answer(t, w, newBrowser(t).offer())
	if !strings.Contains(sdp, " 203.0.113.7 ") || strings.Contains(sdp, " 127.0.0.1 ") {
		t.Errorf("answer candidates do not announce 203.0.113.7 only:\n%s", sdp)
	}
}

// Hangup closes the connection: the leg is done, the browser sees it
// close, and a second Hangup returns at once.
func TestWebRTCHangup(t *testing.T) {
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
	leg, b := connect(t, w)
	closed := make(chan struct{})
	var once sync.Once
	b.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected {
			once.Do(func() { close(closed) })
		}
	})
	hangup(t, leg)
	waitDone(t, leg.Done(), 10*time.Millisecond, "leg")
	hangup(t, leg)
	waitDone(t, closed, 10*time.Second, "browser's connection")
	if _, err := Bridge(leg, leg); !errors.Is(err, ErrSamePort) {
		t.Errorf("Bridge(leg, leg): %v", err)
	}
}

// The browser closing its side ends the leg.
func TestWebRTCBrowserCloses(t *testing.T) {
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}, DisconnectedGrace: 200 * time.Millisecond})
	leg, b := connect(t, w)
	b.close()
	waitDone(t, leg.Done(), 10*time.Second, "leg after the browser closed")
}

// sendTone sends n frames of a tone at freq from the browser, every 20 ms,
// as PCMU with its own payload type.
func (b *browser) sendTone(freq float64, n int) {
	b.t.Helper()
	pcm := tone(freq, sampleRate, n*samplesPerFrame, 8000)
	payload := make([]byte, samplesPerFrame)
	for j := range n {
		EncodeUlaw(payload, pcm[j*samplesPerFrame:(j+1)*samplesPerFrame])
		if err := b.track.send(0, uint16(1000+j), uint32(j*samplesPerFrame), j == 0, payload); err != nil {
			b.t.Fatal(err)
		}
		time.Sleep(frameDuration) // no catch-up bursts beyond what the queue holds
	}
}

// decodeAll decodes the audio packets of payload type pt with decode.
func decodeAll[P any](packets []P, get func(P) (uint8, []byte), pt uint8, decode func([]int16, []byte) int) []int16 {
	var pcm []int16
	for _, p := range packets {
		if t, payload := get(p); t == pt {
			buf := make([]int16, len(payload))
			decode(buf, payload)
			pcm = append(pcm, buf...)
		}
	}
	return pcm
}

// A caller on plain RTP bridged to an agent in the browser: each hears the
// other's tone and not its own, keys pressed on either side reach the
// other with its own event payload type, and the browser gets the stream
// of the leg's SSRC with sequence numbers in order. A μ-law browser and an
// A-law caller are converted.
func TestWebRTCBridgeSession(t *testing.T) {
	for _, callerCodec := range []Codec{CodecPCMU, CodecPCMA} {
		t.Run(callerCodec.Name, func(t *testing.T) {
			e := newTestEndpoint(t, 0)
			w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
			peer := newTestPeer(t)
			caller := startSessionDTMF(t, e, peer, callerCodec, 101)
			leg, b := connect(t, w)
			r, err := Bridge(caller, leg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Stop()

			// The caller's 600 Hz tone, the agent's 1 kHz, 1 s each at once.
			const frames = 50
			var wg sync.WaitGroup
			wg.Go(func() {
				pcm := tone(600, sampleRate, frames*samplesPerFrame, 8000)
				payload := make([]byte, samplesPerFrame)
				enc, _, _, _ := callerCodec.funcs()
				for j := range frames {
					enc(payload, pcm[j*samplesPerFrame:(j+1)*samplesPerFrame])
					peer.sendRTP(caller.LocalAddr(), RTPHeader{PayloadType: callerCodec.PayloadType, SequenceNumber: uint16(j), Timestamp: uint32(j * samplesPerFrame), SSRC: 77}, payload)
					time.Sleep(frameDuration) // no catch-up bursts beyond what the queue holds
				}
				var seq uint16 = frames
				peer.sendKey(caller.LocalAddr(), 101, &seq, frames*samplesPerFrame, 3, false)
			})
			b.sendTone(1000, frames)
			for i, pk := range keyPress(frames*samplesPerFrame, 9, 3) {
				payload := AppendDTMFPayload(nil, pk.event, pk.end, 10, pk.duration)
				if err := b.track.send(126, uint16(1000+frames+i), pk.ts, i == 0, payload); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			time.Sleep(200 * time.Millisecond)

			// What the browser got: the caller's tone in μ-law, then key 3.
			got := b.packets()
			if len(got) < frames-2 {
				t.Fatalf("browser got %d packets, want about %d", len(got), frames+7)
			}
			heard := decodeAll(got, func(p rtp.Packet) (uint8, []byte) { return p.PayloadType, p.Payload }, 0, DecodeUlaw)
			checkTone(t, "browser", heard, 600, 1000, frames)
			// Paced by the caller's pacer: the leg's SSRC, consecutive
			// sequence numbers, timestamps on the tick clock.
			var keys []byte
			var stream []rxPacket
			for i, p := range got {
				if p.SSRC != leg.ssrc {
					t.Errorf("browser packet %d: ssrc %x, want the leg's %x", i, p.SSRC, leg.ssrc)
				}
				if p.PayloadType == 126 {
					keys = append(keys, p.Payload[0])
				}
				stream = append(stream, rxPacket{h: RTPHeader{Marker: p.Marker, PayloadType: p.PayloadType, SequenceNumber: p.SequenceNumber, Timestamp: p.Timestamp, SSRC: p.SSRC}, payload: p.Payload})
			}
			checkPaced(t, stream, 0)
			if len(keys) != 7 || keys[0] != 3 {
				t.Errorf("browser got event packets %v, want 7 of key 3", keys)
			}

			// What the caller got: the agent's tone in its codec, then key 9.
			var fromAgent []rxPacket
			for {
				pk, ok := peer.read(100 * time.Millisecond)
				if !ok {
					break
				}
				fromAgent = append(fromAgent, pk)
			}
			_, dec, _, _ := callerCodec.funcs()
			heard = decodeAll(fromAgent, func(p rxPacket) (uint8, []byte) { return p.h.PayloadType, p.payload }, callerCodec.PayloadType, dec)
			checkTone(t, "caller", heard, 1000, 600, frames)
			keys = nil
			for _, p := range fromAgent {
				if p.h.PayloadType == 101 {
					keys = append(keys, p.payload[0])
				}
			}
			if len(keys) != 7 || keys[0] != 9 {
				t.Errorf("caller got event packets %v, want 7 of key 9", keys)
			}

			st := r.Stats()
			wantConv := uint64(0)
			if callerCodec != CodecPCMU {
				wantConv = frames
			}
			for name, d := range map[string]RelayDirectionStats{"caller to agent": st.AToB, "agent to caller": st.BToA} {
				if d.Packets != frames+7 || d.Events != 7 || d.Transcoded != wantConv || d.Dropped != 0 {
					t.Errorf("%s: %+v", name, d)
				}
			}
			if ls := leg.Stats(); ls.PacketsReceived != frames+7 || ls.PacketsSent != frames+7 || ls.BytesReceived != frames*samplesPerFrame+7*4 {
				t.Errorf("leg stats %+v", ls)
			}
		})
	}
}

// A bridge needs a session, whose pacer sends the relayed audio: two
// browser legs are not bridged.
func TestWebRTCBridgeNoSession(t *testing.T) {
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
	a, _ := answer(t, w, newBrowser(t).offer())
	b, _ := answer(t, w, newBrowser(t).offer())
	if _, err := Bridge(a, b); !errors.Is(err, ErrNoPacer) {
		t.Fatalf("Bridge(leg, leg): %v, want ErrNoPacer", err)
	}
}

// A leg bridged to one caller, then another (a transfer), keeps one
// stream: consecutive sequence numbers, timestamps going forward, a marker
// where the second caller starts.
func TestWebRTCRebridge(t *testing.T) {
	e := newTestEndpoint(t, 0)
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
	leg, b := connect(t, w)
	for i := range 2 {
		peer := newTestPeer(t)
		caller := startSessionDTMF(t, e, peer, CodecPCMU, 101)
		r, err := Bridge(caller, leg)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			peer.sendRTP(caller.LocalAddr(), RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * samplesPerFrame), SSRC: uint32(i + 1)}, ulawFrame(10*i+j))
			time.Sleep(frameDuration)
		}
		time.Sleep(3 * frameDuration)
		r.Stop()
	}
	time.Sleep(100 * time.Millisecond)
	got := b.packets()
	if len(got) != 20 {
		t.Fatalf("browser got %d packets, want 20", len(got))
	}
	for i, p := range got {
		if !slices.Equal(p.Payload, ulawFrame(i)) {
			t.Errorf("packet %d: not the callers' frame %d", i, i)
		}
		if i == 0 {
			continue
		}
		if p.SequenceNumber != got[i-1].SequenceNumber+1 || p.SSRC != got[0].SSRC {
			t.Errorf("packet %d: seq %d ssrc %x after %d %x", i, p.SequenceNumber, p.SSRC, got[i-1].SequenceNumber, got[i-1].SSRC)
		}
		step := p.Timestamp - got[i-1].Timestamp
		if step < samplesPerFrame || step > 50*samplesPerFrame {
			t.Errorf("packet %d: timestamp step %d", i, step)
		}
		if p.Marker != (i == 10 || step != samplesPerFrame) {
			t.Errorf("packet %d: marker %v after a step of %d", i, p.Marker, step)
		}
	}
	if !got[0].Marker {
		t.Error("no marker on the first packet")
	}
}

// checkTone checks that pcm holds about frames of a tone at want and none
// at not.
func checkTone(t *testing.T, who string, pcm []int16, want, not float64, frames int) {
	t.Helper()
	if n := len(pcm) / samplesPerFrame; n < frames-2 || n > frames {
		t.Errorf("%s heard %d frames, want %d", who, n, frames)
	}
	if len(pcm) == 0 {
		return
	}
	if a, b := level(pcm, want, sampleRate), level(pcm, not, sampleRate); a < 6000 || b > 200 {
		t.Errorf("%s heard %.0f Hz at %.0f and %.0f Hz at %.0f, want about 8000 and 0", who, want, a, not, b)
	}
}

// A browser that hides its addresses behind mDNS .local names, as
// Chromium does without a media permission, still connects: ivrd resolves
// the names or learns the browser's address from its checks.
func TestWebRTCMDNSBrowser(t *testing.T) {
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
	b := newBrowserWith(t, func(s *webrtc.SettingEngine) {
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
	})
	offer := b.offer()
	if !strings.Contains(offer, ".local ") {
		t.Fatalf("the browser's offer has no mDNS candidate:\n%s", offer)
	}
	leg, sdp := answer(t, w, offer)
	b.accept(sdp)
	deadline := time.Now().Add(10 * time.Second)
	for leg.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected within 10 s: %v", leg.pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The answer takes the first G.711 codec in the offer's order.
func TestWebRTCAnswerCodecOrder(t *testing.T) {
	offer, err := os.ReadFile("testdata/webrtc/chromium156-offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	pcmaFirst := strings.Replace(string(offer), "SAVPF 111 63 9 0 8 13 110 126", "SAVPF 111 63 9 8 0 13 110 126", 1)
	w := newTestWebRTC(t, WebRTCConfig{IPs: []netip.Addr{loopback}})
	leg, sdp := answer(t, w, pcmaFirst)
	if leg.Codec().Name != "PCMA" || leg.Codec().PayloadType != 8 || !strings.Contains(sdp, "SAVPF 8 0 126") {
		t.Errorf("codec %+v for an offer with PCMA first; answer:\n%s", leg.Codec(), sdp)
	}
}

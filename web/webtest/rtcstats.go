package webtest

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
)

// DeskPeer is the expression of the agent desk's RTCPeerConnection while
// it takes a call in the browser.
const DeskPeer = "window.ivrdDesk && window.ivrdDesk.call && window.ivrdDesk.call.pc"

// RTCStats are the figures of a peer connection's audio, from getStats().
type RTCStats struct {
	// ConnectionState and ICEState are the connection's states
	// ("connected", ...).
	ConnectionState string `json:"connectionState"`
	ICEState        string `json:"iceConnectionState"`

	// Inbound audio (inbound-rtp): what the page receives.
	InboundCodec         string  `json:"inboundCodec"` // "audio/PCMU"
	PacketsReceived      int64   `json:"packetsReceived"`
	BytesReceived        int64   `json:"bytesReceived"`
	PacketsLost          int64   `json:"packetsLost"`
	Jitter               float64 `json:"jitter"` // seconds
	AudioLevel           float64 `json:"audioLevel"`
	TotalAudioEnergy     float64 `json:"totalAudioEnergy"`
	TotalSamplesReceived int64   `json:"totalSamplesReceived"`

	// Outbound audio (outbound-rtp): what the page sends.
	OutboundCodec string `json:"outboundCodec"`
	PacketsSent   int64  `json:"packetsSent"`
	BytesSent     int64  `json:"bytesSent"`

	// LocalAddress and RemoteAddress are the selected candidate pair's
	// (address:port).
	LocalAddress  string `json:"localAddress"`
	RemoteAddress string `json:"remoteAddress"`
}

// rtcStatsJS reads the figures of the peer connection the expression %s
// gives, or null when there is none.
const rtcStatsJS = `(async () => {
  const pc = (%s);
  if (!pc) { return null; }
  const out = {connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState};
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const codec = (id) => (byId.get(id) || {}).mimeType || '';
  const addr = (id) => { const c = byId.get(id); return c ? (c.address || c.ip) + ':' + c.port : ''; };
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      Object.assign(out, {
        inboundCodec: codec(s.codecId), packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0,
        packetsLost: s.packetsLost || 0, jitter: s.jitter || 0, audioLevel: s.audioLevel || 0,
        totalAudioEnergy: s.totalAudioEnergy || 0, totalSamplesReceived: s.totalSamplesReceived || 0,
      });
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      Object.assign(out, {outboundCodec: codec(s.codecId), packetsSent: s.packetsSent || 0, bytesSent: s.bytesSent || 0});
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair) { Object.assign(out, {localAddress: addr(pair.localCandidateId), remoteAddress: addr(pair.remoteCandidateId)}); }
    }
  });
  return out;
})()`

// PeerStats reads the audio figures of the RTCPeerConnection the
// JavaScript expression pc gives (DeskPeer for the desk's call). It fails
// the test when there is none.
func (p *Page) PeerStats(pc string) RTCStats {
	p.t.Helper()
	s, err := p.peerStats(pc)
	if err != nil {
		p.t.Fatalf("webtest: peer stats: %v", err)
	}
	return s
}

func (p *Page) peerStats(pc string) (RTCStats, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.b.cfg.timeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[*RTCStats](fmt.Sprintf(rtcStatsJS, pc), chromedp.EvalAwaitPromise))
	switch {
	case err != nil:
		return RTCStats{}, err
	case s == nil:
		return RTCStats{}, fmt.Errorf("no peer connection: %s", pc)
	}
	return *s, nil
}

// WaitPeerStats reads the figures of the peer connection pc every 100 ms
// until ok accepts them, and returns them; it fails the test with the last
// figures read when the timeout passes first. A peer connection that does
// not exist yet is waited for.
func (p *Page) WaitPeerStats(pc, what string, ok func(RTCStats) bool) RTCStats {
	p.t.Helper()
	deadline := time.Now().Add(p.b.cfg.timeout)
	var (
		last RTCStats
		err  error
	)
	for {
		last, err = p.peerStats(pc)
		if err == nil && ok(last) {
			return last
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("webtest: wait for %s: %v", what, err)
	}
	p.t.Fatalf("webtest: wait for %s: last figures %+v", what, last)
	return last
}

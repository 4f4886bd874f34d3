// Package media is ivrd's native media plane: G.711 codecs, WAV prompts,
// RTP packets, RFC 4733 telephone events, in-band DTMF detection, the
// paced RTP sender, the relay that bridges two call legs, and the WebRTC
// legs of agents taking calls in the browser.
//
// An Endpoint owns the RTP port range and a few pacer goroutines shared by
// all calls. Each pacer wakes on an absolute schedule (start + k*20 ms) and
// sends the next 20 ms frame of every active Session it owns, so a call
// costs one receive goroutine and no timer of its own.
//
// Bridge relays two Ports (a Session, a WebRTCLeg) to each other as a
// media server with a jitter buffer does: the audio each port receives is
// queued, and the pacer of the session on the other side sends one 20 ms
// frame of it per tick in that session's own RTP stream, so the far end
// gets an even stream however the sender timed its packets; telephone
// events go through at once. μ-law and A-law are converted only when the
// legs differ. WebRTC answers a browser's offer with a G.711-only peer
// connection whose WebRTCLeg is such a Port, paced by the session it is
// bridged to.
//
// Per-packet and per-tick paths (encode, marshal, send, receive, parse,
// DTMF decode, relay) do not allocate.
package media

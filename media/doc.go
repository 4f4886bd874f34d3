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
// Bridge relays two Ports (a Session, a WebRTCLeg) to each other packet by
// packet as they arrive, from one port's receive goroutine to the other's
// socket, rewriting each packet into the destination's own RTP stream and
// converting μ-law and A-law only when the legs differ. WebRTC answers a
// browser's offer with a G.711-only peer connection whose WebRTCLeg is such
// a Port.
//
// Per-packet paths (encode, marshal, send, receive, parse, DTMF decode,
// relay) do not allocate.
package media

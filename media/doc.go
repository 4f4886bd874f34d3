// Package media is ivrd's native media plane: G.711 codecs, WAV prompts,
// RTP packets, RFC 4733 telephone events, in-band DTMF detection and the
// paced RTP sender.
//
// An Endpoint owns the RTP port range and a few pacer goroutines shared by
// all calls. Each pacer wakes on an absolute schedule (start + k*20 ms) and
// sends the next 20 ms frame of every active Session it owns, so a call
// costs one receive goroutine and no timer of its own. Per-packet paths
// (encode, marshal, send, receive, parse, DTMF decode) do not allocate.
package media

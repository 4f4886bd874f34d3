// Package sip is ivrd's native SIP driver: a user agent server on UDP and
// TCP, built on sipgo, that answers calls with its own RTP (package media)
// and hands each call to the IVR engine as an ivr.Call. For a caller
// waiting in a queue it also rings agents' phones as a user agent client
// (ivr.Dialer) and bridges the caller to the agent who answers
// (ivr.Bridger).
//
// The driver does SDP offer/answer for G.711 (PCMU, PCMA) and RFC 4733
// telephone-event, early and late offers, hold and unhold re-INVITEs, SIP
// INFO DTMF, CANCEL and BYE in both directions. Every request the parser
// passes up is validated before it reaches a handler, every handler and every
// call runs under recover, and idle TCP connections are closed, so a bad
// peer can cost a call but never the server. Beyond Config.MaxCalls calls,
// and from an address flooding INVITEs (Config.Flood), new calls are
// refused with 503.
package sip

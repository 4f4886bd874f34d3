// Package ivr holds the flow model, its loader and validator, and the engine
// that runs a flow against a call.
//
// The engine knows nothing of SIP, RTP or Asterisk: a driver (sip, asterisk,
// a WebRTC leg) adapts its call to the small Call interface below and hands it
// to Engine.Serve, which owns the call from one goroutine until the flow ends
// or the caller hangs up.
package ivr

import (
	"context"
	"time"
)

// Call is what the engine needs from a driver.
//
// The context passed to Engine.Serve carries the call's lifetime: the driver
// cancels it with a cause (ErrCallerHangup, ErrMediaTimeout, ...) when the
// call ends on its side. Every method below must return promptly once that
// context is done.
type Call interface {
	// ID is the driver's unique id for the call (SIP Call-ID, ARI channel id).
	ID() string
	// Caller is the calling number or user (From user part, CALLERID(num)).
	Caller() string
	// Dialled is the number the caller dialled (Request-URI / To user part, extension).
	Dialled() string
	// Answer answers the call if it is not yet answered. It is idempotent.
	Answer(ctx context.Context) error
	// Play starts playing the prompts in order and returns at once. The
	// returned Playback reports when the audio ended or was stopped.
	// Barge-in is the engine's business: it calls Stop when a key arrives
	// during an interruptible prompt. A driver must stop the audio within one
	// frame (20 ms) of Stop.
	Play(ctx context.Context, prompts []Audio) (Playback, error)
	// DTMF delivers the caller's key presses, one event per key, as early as
	// the driver can know them (first RFC 4733 packet, SIP INFO, ARI event).
	// The channel is never closed; use the call context to stop reading.
	DTMF() <-chan DTMF
	// Hangup ends the call from ivrd's side. It is idempotent.
	Hangup(ctx context.Context, reason string) error
}

// Playback is a prompt being played on a call.
type Playback interface {
	// Done is closed when the audio ended, was stopped, or the call ended.
	Done() <-chan struct{}
	// Stop interrupts the playback; it does not wait for Done.
	Stop()
}

// DTMF is one key press of the caller.
type DTMF struct {
	Digit rune      // one of 0-9 * # A-D
	At    time.Time // when the driver first saw the key
	Via   string    // "rfc4733", "info", "inband", "ari"
}

// Audio is one resolved piece of a prompt, ready for a driver to play.
//
// The loader resolves every prompt of a flow (files, text to speech, say-digits
// vocabulary) to Audio when the flow is loaded, so a call never waits for
// synthesis. Drivers play Path (the native driver reads the WAV; the ARI
// driver hands Asterisk a URL for it) or, for Asterisk's own sounds, Sound.
type Audio struct {
	// Path is a WAV file: 8 kHz mono PCM16, or G.711 μ-law/A-law.
	Path string
	// Sound is a driver-native sound name (e.g. Asterisk "sound:vm-goodbye");
	// used only when Path is empty.
	Sound string
	// Silence, when Path and Sound are empty, is a pause of this length.
	Silence time.Duration
	// Text is what the audio says, for logs, call records and `ivrd simulate`.
	Text string
	// ID is a stable content id (hash) of the audio, used in URLs and caches.
	ID string
}

// Package siptest holds the SIP peers of ivrd's tests: a minimal raw
// SIP-over-UDP caller with its own RTP socket, for end-to-end tests and the
// load probe, and a baresip softphone that answers by itself, the agent's
// phone of the agent tests.
//
// Every byte the caller puts on the wire is written here by hand, so that a
// test controls the messages and their timing exactly: one INVITE with a
// PCMU + telephone-event offer, the ACK, RFC 4733 key presses on the call's
// own RTP stream, silence or a tone every 20 ms (WithSilence, WithTone), and
// BYE. It answers the requests the callee sends inside a dialog (BYE) with
// 200. RTP from the callee is read with the kernel's receive timestamp where
// the platform has one (SO_TIMESTAMPNS), so the reader's own scheduling
// delays do not show up as jitter.
//
// One UA owns one SIP socket and may carry many calls at once; responses are
// routed to their call by Call-ID.
//
// StartBaresip runs baresip on 127.0.0.1 with an account that answers every
// call (answermode=auto), a tone as its microphone and the audio it receives
// recorded; ToneShare then tells whose tone a leg heard:
//
//	phone, err := siptest.StartBaresip(ctx, siptest.BaresipConfig{Dir: t.TempDir(), Tone: 1000})
//	defer phone.Close()
//	// agent configured with phone: phone.URI() (append ";transport=tcp" for TCP)
//	...
//	phone.Close()                      // the recordings are complete once it quit
//	calls, _ := phone.Received()       // one []int16 per call, 8 kHz
//	heard := siptest.ToneShare(calls[0], 400) // ≈1 if it heard the caller's 400 Hz
package siptest

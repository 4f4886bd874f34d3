// Package siptest is a minimal raw SIP-over-UDP caller with its own RTP
// socket, for end-to-end tests and the load probe.
//
// Every byte it puts on the wire is written here by hand, so that a test
// controls the messages and their timing exactly: one INVITE with a PCMU +
// telephone-event offer, the ACK, RFC 4733 key presses on the call's own RTP
// stream, and BYE. It answers the requests the callee sends inside a dialog
// (BYE) with 200. RTP from the callee is read with the kernel's receive
// timestamp where the platform has one (SO_TIMESTAMPNS), so the reader's own
// scheduling delays do not show up as jitter.
//
// One UA owns one SIP socket and may carry many calls at once; responses are
// routed to their call by Call-ID.
package siptest

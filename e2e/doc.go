// Package e2e holds the end-to-end tests of ivrd: each test starts the real
// ivrd binary with its own configuration, flows and ports, calls it over
// loopback with real SIP peers (sipp, baresip, and a small hand-written SIP
// and RTP client for wire timing), and checks what callers hear and what the
// HTTP API reports.
//
// The tests need sipp, baresip and espeak-ng on the PATH (`make test-deps`).
package e2e

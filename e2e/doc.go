// Package e2e holds the end-to-end tests of ivrd: each test starts the real
// ivrd binary with its own configuration, flows and ports, calls it over
// loopback with real SIP peers (sipp, baresip, and the raw SIP and RTP
// caller of package sip/siptest for wire timing), and checks what callers
// hear and what the HTTP API reports. The driver table (drivers_test.go)
// runs the same scenarios through the native SIP driver and through a real
// Asterisk 22 over ARI, and requires both to produce the same call records.
//
// The tests need sipp, baresip and espeak-ng on the PATH, root, and the
// Asterisk root that scripts/asterisk.sh prepares (`make test-deps` does all
// of it).
package e2e

// Package asterisktest runs a real Asterisk for tests.
//
// Debian bookworm has no asterisk package, Debian sid has (Asterisk 22).
// scripts/asterisk.sh prepare builds a minimal sid root holding Asterisk and
// its English sounds with debootstrap, once, into .cache/asterisk-root (one to
// two minutes and about 430 MB; later runs find it there and return at once).
//
// [Start] then runs one Asterisk in that root for one test:
//
//   - It renders the configuration templates of asterisk/testdata/etc into a
//     fresh folder inside the root (root/tmp/ivrd-test-*), because Asterisk
//     is chrooted and can only read files inside the root. Every writable
//     directory (astdb, spool, run, logs) is in that folder, so instances in
//     one root share nothing and tests can run in parallel.
//   - It picks free loopback ports for HTTP (ARI) and for the SIP UDP
//     transport, so it runs beside the native SIP driver's tests. Asterisk
//     only logs a failed bind, so once booted Start checks that both ports
//     are Asterisk's and, if another process took one, starts again on
//     other ports.
//   - It starts asterisk -f in its own mount namespace, where /dev and /proc
//     are mounted into the root. The mounts belong to that namespace alone:
//     they disappear with the process, even when the test binary is killed,
//     and parallel instances never unmount each other's /proc. Asterisk
//     gets SIGKILL when the test binary dies.
//   - It waits until Asterisk is fully booted and ARI answers
//     GET /ari/asterisk/info with the test credentials.
//   - At cleanup it stops Asterisk (SIGTERM, then SIGKILL) and removes the
//     folder; when the test failed it logs Asterisk's log first.
//
// [Asterisk.CLI] runs CLI commands; [Asterisk.Stop] and [Asterisk.Exited]
// let a test take Asterisk away from a client; [Asterisk.HostPath] maps a
// path Asterisk sees to the host, to drop sound files where it can play
// them.
//
// Callers (sipp, baresip) reach the dialplan at [Asterisk.SIPAddr]: an
// endpoint matched by the source address 127.0.0.1, with RFC 4733 DTMF,
// G.711 only and symmetric RTP. Every number they dial enters the Stasis
// application [Asterisk.App] with the number as its argument. The context
// ivrd-queue stands in for a dialplan Queue(): a channel continued there
// sets IVRD_QUEUE_REACHED and waits 30 seconds.
//
// Starting Asterisk needs root: debootstrap, chroot and mount namespaces
// all do. Tests fail, never skip, when it cannot be started.
package asterisktest

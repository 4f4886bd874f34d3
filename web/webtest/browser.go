// Package webtest drives Debian's headless Chromium through the DevTools
// protocol (chromedp) for ivrd's browser tests: the agent desk signing in,
// taking a call over WebRTC with Chromium's fake microphone, the supervisor
// view. It starts Chromium with the flags this needs on a machine with no
// display, no GPU and no network beyond loopback; a test that uses it fails,
// never skips, when Chromium is not installed.
//
//	b := webtest.Start(t)
//	p := b.NewPage(t)
//	p.OpenDesk(srv.URL, token)
//	p.Click("#btn-available")
//	p.WaitText("#offer .pop-intent", "contester_facture")
//	p.Click("#btn-accept")
//	st := p.WaitPeerStats(webtest.DeskPeer, "audio from ivrd",
//		func(s webtest.RTCStats) bool { return s.PacketsReceived >= 100 })
package webtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startTimeout bounds Chromium's start.
const startTimeout = 30 * time.Second

// Browser is a headless Chromium with a profile of its own, closed when the
// test ends.
type Browser struct {
	t      testing.TB
	cfg    config
	ctx    context.Context // the browser's first tab: its life is the browser's
	cancel context.CancelFunc
	stop   context.CancelFunc // ends the process, and waits for it
	output *tail
	once   sync.Once
}

// Start starts Chromium for the test and closes it when the test ends. It
// fails the test when Chromium is missing or does not start. One browser
// serves the pages of many subtests.
func Start(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	cfg := config{path: DefaultPath, width: 1280, height: 900, timeout: DefaultTimeout, flags: map[string]any{}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			t.Fatalf("webtest: %v", err)
		}
	}
	if err := executable(cfg.path); err != nil {
		t.Fatalf("webtest: %v: install Debian's chromium package (the Makefile's test dependencies)", err)
	}
	b := &Browser{t: t, cfg: cfg, output: &tail{max: 64 << 10}}
	allocCtx, stop := chromedp.NewExecAllocator(context.Background(), b.flags(t.TempDir())...)
	b.stop = stop
	b.ctx, b.cancel = chromedp.NewContext(allocCtx)
	t.Cleanup(b.Close)

	// The first action starts the browser and lives as long as it: it
	// must not have a timeout of its own, so a watchdog bounds the start.
	watchdog := time.AfterFunc(startTimeout, b.cancel)
	err := chromedp.Do(b.ctx)
	if !watchdog.Stop() {
		err = fmt.Errorf("not started within %v (%v)", startTimeout, err)
	}
	if err != nil {
		t.Fatalf("webtest: start %s: %v\n%s", cfg.path, err, b.output)
	}
	return b
}

// flags are Chromium's command line. The network is loopback only: without
// the background networking flags Chromium tries Google's hosts again and
// again. WebRTC on loopback needs the fake devices (no prompt, a beep or a
// file as the microphone), loopback candidates, and real host addresses
// instead of mDNS names in the candidates.
func (b *Browser) flags(profile string) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(b.cfg.path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(b.cfg.width, b.cfg.height),
		chromedp.CombinedOutput(b.output),
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,MediaRouter,OptimizationHints,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	if b.cfg.fakeAudio != "" {
		opts = append(opts, chromedp.Flag("use-file-for-fake-audio-capture", b.cfg.fakeAudio))
	}
	for name, v := range b.cfg.flags {
		opts = append(opts, chromedp.Flag(name, v))
	}
	return opts
}

// Close closes the pages and stops Chromium; the test's cleanup calls it.
func (b *Browser) Close() {
	b.once.Do(func() {
		b.cancel()
		b.stop() // waits for the process to exit
		if b.t.Failed() {
			b.t.Logf("webtest: chromium output:\n%s", b.output)
		}
	})
}

// executable checks that path is a file Chromium can be run from.
func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("chromium: %w", err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("chromium: %s: %w", path, fs.ErrPermission)
	}
	return nil
}

// tail keeps the last max bytes written to it: Chromium's output, shown
// when a test fails.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// String returns the output kept, without the complaints about D-Bus,
// which a machine without a desktop session does not run.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(string(t.b), "\n") {
		if line != "" && !strings.Contains(line, ":ERROR:dbus/") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

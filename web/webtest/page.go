package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is a tab of the Browser. Its methods fail the test when the
// browser does not do what they ask within the timeout: call them from the
// test's goroutine.
type Page struct {
	t      testing.TB
	b      *Browser
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	console []string
	done    chan struct{} // closed when the console reader ended
}

// NewPage opens a new tab for the test t (the browser's test or one of
// its subtests), closed when t ends. What the page writes to its console
// is logged if t fails.
func (b *Browser) NewPage(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	p := &Page{t: t, b: b, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("webtest: open a tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(p.done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m.Time.Format("15:04:05.000")+" "+m.String())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

// Close closes the tab; the test's cleanup calls it.
func (p *Page) Close() {
	p.cancel()
	<-p.done
	if p.t.Failed() {
		if c := p.Console(); len(c) > 0 {
			p.t.Logf("webtest: page console:\n%s", strings.Join(c, "\n"))
		}
	}
}

// Console returns what the page wrote to its console so far, uncaught
// exceptions included.
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// Context is the tab's chromedp context, for actions the Page has no
// method for; give each a timeout.
func (p *Page) Context() context.Context { return p.ctx }

// do runs the actions with the timeout, failing the test with what.
func (p *Page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.b.cfg.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("webtest: %s: %v", what, err)
	}
}

func run[T any](p *Page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.b.cfg.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("webtest: %s: %v", what, err)
	}
	return v
}

// Open loads url and waits for its document.
func (p *Page) Open(url string) {
	p.t.Helper()
	p.do("open "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// OpenDesk opens the agent desk of the ivrd at base (http://host:port) and
// signs in with token.
func (p *Page) OpenDesk(base, token string) {
	p.t.Helper()
	p.Open(strings.TrimSuffix(base, "/") + "/desk")
	p.SignIn(token)
	p.WaitVisible("#desk")
}

// OpenSupervisor opens the supervisor view and signs in with token.
func (p *Page) OpenSupervisor(base, token string) {
	p.t.Helper()
	p.Open(strings.TrimSuffix(base, "/") + "/supervisor")
	p.SignIn(token)
	p.WaitVisible("#board")
}

// SignIn fills the sign-in form of a page of ivrd and sends it.
func (p *Page) SignIn(token string) {
	p.t.Helper()
	p.WaitVisible("#token")
	p.Type("#token", token)
	p.Click("#signin-submit")
}

// WaitVisible waits until the element is displayed.
func (p *Page) WaitVisible(sel string) {
	p.t.Helper()
	p.do("wait for "+sel+" to show", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitHidden waits until the element is not displayed (or absent).
func (p *Page) WaitHidden(sel string) {
	p.t.Helper()
	p.WaitJS(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !e || e.offsetParent === null; })()`, quote(sel)),
		sel+" hidden")
}

// WaitEnabled waits until the element (a button, an input) is enabled.
func (p *Page) WaitEnabled(sel string) {
	p.t.Helper()
	p.do("wait for "+sel+" to be enabled", chromedp.WaitEnabled(chromedp.CSS(sel)))
}

// WaitText waits until the text of the element contains text, and fails
// with the text it has otherwise.
func (p *Page) WaitText(sel, text string) {
	p.t.Helper()
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.textContent.includes(%s); })()`,
		quote(sel), quote(text))
	if err := p.poll(expr); err != nil {
		p.t.Fatalf("webtest: wait for %q in %s: %v; it reads %q", text, sel, err, p.textOrNone(sel))
	}
}

// WaitJS waits until the JavaScript expression is truthy.
func (p *Page) WaitJS(expr, what string) {
	p.t.Helper()
	if err := p.poll(expr); err != nil {
		p.t.Fatalf("webtest: wait for %s: %v", what, err)
	}
}

func (p *Page) poll(expr string) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.b.cfg.timeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(p.b.cfg.timeout)))
	return err
}

// Text returns the text of the element.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	var s *string
	p.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.textContent : null; })()`, quote(sel)), &s)
	if s == nil {
		p.t.Fatalf("webtest: no element %s", sel)
	}
	return strings.TrimSpace(*s)
}

// Texts returns the text of every element the selector matches.
func (p *Page) Texts(sel string) []string {
	p.t.Helper()
	var out []string
	p.Eval(fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.textContent.trim())`, quote(sel)), &out)
	return out
}

func (p *Page) textOrNone(sel string) string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[*string](fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); return e ? e.textContent : null; })()`, quote(sel))))
	switch {
	case err != nil:
		return "(" + err.Error() + ")"
	case s == nil:
		return "(no such element)"
	}
	return strings.TrimSpace(*s)
}

// Visible reports whether the element is displayed now.
func (p *Page) Visible(sel string) bool {
	p.t.Helper()
	var v bool
	p.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.offsetParent !== null; })()`, quote(sel)), &v)
	return v
}

// Click waits until the element is displayed and enabled, then clicks it
// with the mouse.
func (p *Page) Click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.WaitEnabled(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// Type types text into the input, after what it held.
func (p *Page) Type(sel, text string) {
	p.t.Helper()
	p.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// Eval evaluates a JavaScript expression, awaits it if it is a promise,
// and decodes its value, as JSON, into out (nil to ignore it).
func (p *Page) Eval(expr string, out any) {
	p.t.Helper()
	raw := run(p, "evaluate "+clip(expr), chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if out == nil {
		return
	}
	if err := json.Unmarshal(raw, out); err != nil {
		p.t.Fatalf("webtest: evaluate %s: decode %s: %v", clip(expr), raw, err)
	}
}

// Screenshot saves the visible part of the page as a PNG file.
func (p *Page) Screenshot(path string) {
	p.t.Helper()
	png := run(p, "screenshot", chromedp.CaptureScreenshot())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatalf("webtest: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("webtest: screenshot: %v", err)
	}
}

// quote makes a JavaScript string literal of s.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

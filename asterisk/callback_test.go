package asterisk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// The customer called back in these tests, what ivrd shows them, and how
// long every prompt of the tests' prompt server lasts.
const (
	customerNumber = "+33612345678"
	callbackCID    = `"Acme" <+33100000000>`
	greetingLength = 2500 * time.Millisecond
)

// callbackEnv is a driver whose customers are reached through the test
// Asterisk's trunk endpoint at a phone on 127.0.0.1:port; it serves no
// inbound call.
func callbackEnv(t *testing.T, ast *asterisktest.Asterisk, port int, opt func(*asterisk.Config)) *agentEnv {
	t.Helper()
	prompt := wavBytes(t, tone(promptHz, greetingLength))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(prompt)
	}))
	t.Cleanup(srv.Close)
	return startAgentsWith(t, ast, func(c *asterisk.Config) {
		c.CallbackEndpoint = fmt.Sprintf("PJSIP/trunk/sip:{number}@127.0.0.1:%d", port)
		c.CallbackCallerID = callbackCID
		c.PromptBaseURL = srv.URL + "/prompts"
		if opt != nil {
			opt(c)
		}
	}, func(ctx context.Context, call ivr.Call) {
		t.Errorf("an inbound call %s from %s reached the handler; a customer called back is no inbound call", call.ID(), call.Caller())
	})
}

// baresipPhone starts baresip as the phone of user at port, answering
// every call at once and sending samples (8 kHz). Typing a digit on its
// input sends it as a key (RFC 4733), b hangs up; what it receives is
// written to dump-*-dec.wav in its folder.
func baresipPhone(t *testing.T, user string, port int, samples []int16) *peer {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "phone.wav")
	if err := os.WriteFile(src, wavBytes(t, samples), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`poll_method		poll
sip_listen		127.0.0.1:%d
audio_source		aufile,%s
audio_srate		8000
audio_channels		1
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			aufile.so
module			sndfile.so
snd_path		%s
module_app		account.so
module_app		menu.so
`, port, src, dir)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0;answermode=auto\n", user)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("baresip", "-n", "127.0.0.1", "-f", dir)
	cmd.Dir = dir
	p := run(t, "baresip "+user, cmd)
	waitBound(t, p, port)
	return p
}

// sippCustomer starts a customer's phone at port played by a sipp scenario
// of testdata/sipp, with STATUS replaced by status; the SIP messages it
// exchanges go to messages.log in its folder.
func sippCustomer(t *testing.T, port int, scenario, status string) *peer {
	t.Helper()
	xml, err := os.ReadFile(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sf := filepath.Join(dir, scenario)
	if err := os.WriteFile(sf, []byte(strings.ReplaceAll(string(xml), "STATUS", status)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sipp", "-sf", sf, "-m", "1", "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-timeout", "30s", "-timeout_error", "-nostdin",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"))
	cmd.Dir = dir
	p := run(t, "sipp customer "+scenario+" "+status, cmd)
	waitBound(t, p, port)
	return p
}

// invite returns the INVITE a sipp customer received.
func (p *peer) invite(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "messages.log"))
	if err != nil {
		t.Fatalf("read sipp's messages: %v", err)
	}
	s := string(b)
	i := strings.Index(s, "INVITE sip:")
	if i < 0 {
		t.Fatalf("sipp received no INVITE:\n%s", s)
	}
	s = s[i:]
	if j := strings.Index(s, "\n\n"); j > 0 {
		s = s[:j]
	}
	return s
}

// waitNoCallback waits until Asterisk holds no customer's channel.
func waitNoCallback(t *testing.T, ast *asterisktest.Asterisk) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids := channelsLike(t, ast, "ivrd-cb-")
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Asterisk still holds customers' channels %q", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answeredRun is what serve saw of a customer who answered.
type answeredRun struct {
	err                  error
	id, caller, dialled  string
	vars                 map[string]string
	active               int
	played               time.Duration
	key                  ivr.DTMF
	cause                error
	sawCustomerHangUpFor time.Duration
}

// A customer called back (baresip, auto-answering) through the trunk: the
// phone gets the customer's number in the request URI, ivrd's caller ID in
// From and the request in X-IVRD headers; once answered, serve runs with a
// call of the driver (the customer's number as Caller, the callback's
// variables on the channel, counted in ActiveCalls) on which a prompt
// plays in full and is heard, a key pressed by the customer arrives, and
// the customer hanging up ends serve's context with ivr.ErrCallerHangup.
// Originate then returns nil and nothing is left in Asterisk; no inbound
// call was started for the customer's channel.
func TestCallbackAnswered(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	port := freePort(t, "udp")
	phone := baresipPhone(t, customerNumber, port, tone(callerHz, 30*time.Second))
	e := callbackEnv(t, ast, port, nil)

	played := make(chan struct{})
	keyed := make(chan struct{})
	over := make(chan struct{})
	pressed := make(chan struct{})
	var r answeredRun
	// The customer: presses 5 once the greeting is over, hangs up once
	// the key arrived.
	go func() {
		defer close(pressed)
		select {
		case <-played:
		case <-over:
			return
		}
		_, _ = io.WriteString(phone.stdin, "5")
		select {
		case <-keyed:
		case <-over:
			return
		}
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(phone.stdin, "b")
	}()
	start := time.Now()
	err := e.drv.Originate(context.Background(), ivr.OriginateRequest{
		Number:     customerNumber,
		Contact:    ivr.Contact{ID: "cb-42", Queue: "sales", Caller: customerNumber},
		Timeout:    10 * time.Second,
		CallbackID: "cb-42",
		Attempt:    2,
	}, func(ctx context.Context, call ivr.Call) {
		r.id, r.caller, r.dialled = call.ID(), call.Caller(), call.Dialled()
		r.active = e.drv.ActiveCalls()
		r.vars = map[string]string{}
		for _, name := range []string{"IVRD_CALLBACK_ID", "IVRD_CALLBACK_QUEUE", "IVRD_CALLBACK_ATTEMPT"} {
			v, err := getVar(ast, call.ID(), name)
			if err != nil {
				r.err = err
				return
			}
			r.vars[name] = v
		}
		if err := call.Answer(ctx); err != nil {
			r.err = err
			return
		}
		began := time.Now()
		pb, err := call.Play(ctx, []ivr.Audio{{Path: "greeting.wav", ID: "greeting", Text: "we call you back"}})
		if err != nil {
			r.err = err
			return
		}
		select {
		case <-pb.Done():
			r.played = time.Since(began)
		case <-time.After(10 * time.Second):
			r.err = errors.New("the greeting never finished")
			return
		}
		close(played)
		select {
		case r.key = <-call.DTMF():
		case <-time.After(10 * time.Second):
			r.err = errors.New("no key from the customer")
			return
		}
		close(keyed)
		hungUp := time.Now()
		<-ctx.Done()
		r.sawCustomerHangUpFor = time.Since(hungUp)
		r.cause = context.Cause(ctx)
	})
	close(over)
	<-pressed
	if err != nil {
		t.Fatalf("Originate = %v, want nil once the customer answered", err)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("call %s answered and served for %v; greeting played in %v", r.id, time.Since(start), r.played)
	if !strings.HasPrefix(r.id, "ivrd-cb-"+ast.App+"-") || r.caller != customerNumber || r.dialled != customerNumber {
		t.Errorf("call %s from %q to %q; want an ivrd-cb-%s- channel, the customer's number both ways", r.id, r.caller, r.dialled, ast.App)
	}
	if r.active != 1 {
		t.Errorf("ActiveCalls = %d while serving the customer, want 1", r.active)
	}
	want := map[string]string{"IVRD_CALLBACK_ID": "cb-42", "IVRD_CALLBACK_QUEUE": "sales", "IVRD_CALLBACK_ATTEMPT": "2"}
	for k, v := range want {
		if r.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, r.vars[k], v)
		}
	}
	if r.played < greetingLength-300*time.Millisecond {
		t.Errorf("the %v greeting finished after %v", greetingLength, r.played)
	}
	if r.key.Digit != '5' || r.key.Via != "ari" {
		t.Errorf("key %+v, want 5 via ari", r.key)
	}
	if !errors.Is(r.cause, ivr.ErrCallerHangup) {
		t.Errorf("serve's context ended with %v, want the customer's hang-up", r.cause)
	}
	if n := e.drv.ActiveCalls(); n != 0 {
		t.Errorf("ActiveCalls = %d after Originate returned", n)
	}
	_, _ = io.WriteString(phone.stdin, "q")
	if err := phone.wait(t, 5*time.Second); err != nil {
		t.Logf("baresip: %v", err)
	}
	waitNoCallback(t, ast)

	// What the customer heard: the greeting (440 Hz).
	// baresip keeps what it received from the first packet on.
	heard := phone.heard(t)
	if len(heard) < at(greetingLength-500*time.Millisecond) {
		t.Fatalf("the customer heard %d samples, want the %v greeting", len(heard), greetingLength)
	}
	checkTone(t, "what the customer heard", heard[at(300*time.Millisecond):at(greetingLength-700*time.Millisecond)], promptHz, callerHz)
	// The request the trunk got.
	for _, q := range e.reqs.all() {
		if q.method == http.MethodPost && q.path == "/channels/"+r.id {
			if got := q.query.Get("callerId"); got != callbackCID {
				t.Errorf("callerId %q, want %q", got, callbackCID)
			}
			if got, want := q.query.Get("endpoint"), "PJSIP/trunk/sip:"+customerNumber+"@127.0.0.1:"+strconv.Itoa(port); got != want {
				t.Errorf("endpoint %q, want %q", got, want)
			}
		}
	}
}

// A customer's phone that is busy, declines, is unavailable, does not
// exist or rings out gives Originate the matching error without serve
// running; one whose attempt is given up (ctx cancelled) while it rings
// is cancelled. The INVITE carries the customer's number, ivrd's caller
// ID and the callback in headers; nothing is left in Asterisk.
func TestCallbackNotReached(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	port := freePort(t, "udp")
	e := callbackEnv(t, ast, port, nil)
	tests := []struct {
		name     string
		scenario string
		status   string
		timeout  time.Duration
		cancel   time.Duration // cancel ctx after this, while ringing
		want     error
		cause    string // in the error, when want is nil
	}{
		{name: "busy", scenario: "uas_reject.xml", status: "486 Busy Here", timeout: 10 * time.Second, want: ivr.ErrCalleeBusy},
		{name: "rejected", scenario: "uas_reject.xml", status: "603 Decline", timeout: 10 * time.Second, want: ivr.ErrCalleeRejected},
		{name: "unavailable", scenario: "uas_reject.xml", status: "480 Temporarily Unavailable", timeout: 10 * time.Second, want: ivr.ErrCalleeNoAnswer},
		{name: "no such number", scenario: "uas_reject.xml", status: "404 Not Found", timeout: 10 * time.Second, cause: "hang-up cause 1 "},
		{name: "no answer", scenario: "uas_ring_cancel.xml", timeout: 1500 * time.Millisecond, want: ivr.ErrCalleeNoAnswer},
		{name: "given up", scenario: "uas_ring_cancel.xml", timeout: 10 * time.Second, cancel: 800 * time.Millisecond, want: context.DeadlineExceeded},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phone := sippCustomer(t, port, tt.scenario, tt.status)
			ctx := context.Background()
			if tt.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.cancel)
				defer cancel()
			}
			served := false
			start := time.Now()
			err := e.drv.Originate(ctx, ivr.OriginateRequest{
				Number: customerNumber, Contact: ivr.Contact{Queue: "sales"}, Timeout: tt.timeout,
				CallbackID: "cb-" + strconv.Itoa(i), Attempt: 1,
			}, func(context.Context, ivr.Call) { served = true })
			took := time.Since(start)
			t.Logf("Originate after %v: %v", took, err)
			if served {
				t.Error("serve ran for a customer who did not answer")
			}
			switch {
			case err == nil:
				t.Fatal("Originate = nil for a customer who did not answer")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Originate = %v, want %v", err, tt.want)
			case tt.want == nil:
				for _, w := range []error{ivr.ErrCalleeBusy, ivr.ErrCalleeNoAnswer, ivr.ErrCalleeRejected} {
					if errors.Is(err, w) {
						t.Errorf("Originate = %v; a failure to reach the number is not %v", err, w)
					}
				}
				if !strings.Contains(err.Error(), tt.cause) {
					t.Errorf("Originate = %v, want it to say %q", err, tt.cause)
				}
			}
			if tt.scenario == "uas_ring_cancel.xml" {
				bound := tt.timeout
				if tt.cancel > 0 {
					bound = tt.cancel
				}
				if took < bound || took > bound+time.Second {
					t.Errorf("gave up after %v, want %v", took, bound)
				}
			}
			// sipp's scenario completes only if it got what it waits for
			// (the CANCEL for a phone left ringing).
			if err := phone.wait(t, 5*time.Second); err != nil {
				t.Errorf("customer's phone: %v", err)
			}
			inv := phone.invite(t)
			for _, re := range []string{
				`^INVITE sip:` + regexp.QuoteMeta(customerNumber) + `@127\.0\.0\.1:` + strconv.Itoa(port) + ` SIP/2\.0`,
				`(?m)^From: "Acme" <sip:\+33100000000@`,
				`(?m)^X-IVRD-Callback-ID: cb-` + strconv.Itoa(i) + `\r?$`,
				`(?m)^X-IVRD-Callback-Attempt: 1\r?$`,
			} {
				if !regexp.MustCompile(re).MatchString(inv) {
					t.Errorf("INVITE does not match %s:\n%s", re, inv)
				}
			}
			waitNoCallback(t, ast)
		})
	}
	if n := e.drv.ActiveCalls(); n != 0 {
		t.Errorf("ActiveCalls = %d; no customer answered", n)
	}
}

// Numbers that are not digits with an optional leading + are refused
// before anything reaches Asterisk: caller input never picks a
// destination.
func TestCallbackRefusesBadNumbers(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	e := callbackEnv(t, ast, freePort(t, "udp"), nil)
	for _, n := range []string{"", "+", "0612&PJSIP/premium", "0612@evil", "06 12", "0612/x", "++33", "*97", "sip:0612@host", "0612345678901234567890123"} {
		err := e.drv.Originate(context.Background(), ivr.OriginateRequest{Number: n, Timeout: time.Second},
			func(context.Context, ivr.Call) { t.Errorf("serve ran for %q", n) })
		if !errors.Is(err, asterisk.ErrBadNumber) {
			t.Errorf("Originate(%q) = %v, want ErrBadNumber", n, err)
		}
	}
	for _, q := range e.reqs.all() {
		if q.method == http.MethodPost && strings.HasPrefix(q.path, "/channels") {
			t.Errorf("a channel was requested: %s %v", q.path, q.query)
		}
	}
}

// The customer answers (sipp) and the attempt is given up while serve
// runs (ctx cancelled): serve's context ends with ctx's cause and the
// driver hangs the customer up (sipp gets a BYE).
func TestCallbackCancelledAfterAnswer(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	port := freePort(t, "udp")
	phone := sippCustomer(t, port, "uas_answer_wait_bye.xml", "")
	e := callbackEnv(t, ast, port, nil)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := errors.New("attempt given up")
	var cause error
	var id string
	err := e.drv.Originate(ctx, ivr.OriginateRequest{Number: customerNumber, Timeout: 10 * time.Second, CallbackID: "cb-1", Attempt: 1},
		func(sctx context.Context, call ivr.Call) {
			id = call.ID()
			time.AfterFunc(500*time.Millisecond, func() { cancel(stop) })
			<-sctx.Done()
			cause = context.Cause(sctx)
		})
	if err != nil {
		t.Fatalf("Originate = %v, want nil once answered and served", err)
	}
	if !errors.Is(cause, stop) {
		t.Errorf("serve's context ended with %v, want %v", cause, stop)
	}
	if err := phone.wait(t, 5*time.Second); err != nil {
		t.Errorf("the customer was not hung up: %v", err)
	}
	deleted := false
	for _, q := range e.reqs.all() {
		deleted = deleted || (q.method == http.MethodDelete && q.path == "/channels/"+id)
	}
	if !deleted {
		t.Errorf("the driver never hung up %s", id)
	}
	waitNoCallback(t, ast)
}

// Agent-first callback: the driver rings the agent (baresip, 440 Hz) for
// no caller's call, then calls the customer (baresip, 1000 Hz) and bridges
// the two in one mixing bridge: RTP flows both ways on both legs, each
// hears the other, the agent's phone showed the customer's number, and
// the conversation is recorded with the customer on the left and the
// agent on the right. The customer hangs up: Bridge returns the hang-up,
// the agent's leg is hung up by whoever dialled it, and nothing is left.
func TestCallbackAgentFirstBridged(t *testing.T) {
	noLeaks(t)
	ast := recordingAsterisk(t, asterisktest.Options{})
	agentURI, agent := baresipAgent(t, tone(agentHz, 30*time.Second))
	port := freePort(t, "udp")
	customer := baresipPhone(t, customerNumber, port, tone(callerHz, 30*time.Second))
	e := callbackEnv(t, ast, port, nil)

	leg, err := e.drv.Dial(context.Background(), ivr.DialRequest{
		Offer:   ivr.Offer{ID: "offer-1", Agent: "alice", Phone: agentURI},
		Contact: ivr.Contact{ID: "cb-7", Caller: customerNumber, Queue: "sales"},
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Answered():
	case <-leg.Done():
		t.Fatalf("the agent did not answer: %v", leg.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not answer within 10 s")
	}
	agentIDs := channelsLike(t, ast, "ivrd-agent-"+ast.App+"-")
	if len(agentIDs) != 1 {
		t.Fatalf("agents' channels %q, want 1", agentIDs)
	}
	agentID := agentIDs[0]
	var agentChan struct{ Caller struct{ Number string } }
	if err := ariDo(ast, http.MethodGet, "/channels/"+agentID, &agentChan); err != nil {
		t.Fatal(err)
	}
	if agentChan.Caller.Number != customerNumber {
		t.Errorf("the agent's phone shows %q, want the customer's number", agentChan.Caller.Number)
	}

	sink := &memSink{}
	bridging := make(chan string, 1)
	watched := make(chan struct{})
	over := make(chan struct{})
	var r bridgeRun
	go func() {
		// The conversation, seen from Asterisk.
		defer close(watched)
		var id string
		select {
		case id = <-bridging:
		case <-over:
			return
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			bs := bridgesNamed(t, ast, "ivrd-agent:"+ast.App)
			if len(bs) == 1 && len(bs[0].Channels) == 2 {
				if bs[0].Type != "mixing" || !slices.Contains(bs[0].Channels, id) || !slices.Contains(bs[0].Channels, agentID) {
					t.Errorf("bridge %+v, want a mixing bridge of %s and %s", bs[0], id, agentID)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("bridges %+v; want the customer and the agent in one", bs)
				_, _ = io.WriteString(customer.stdin, "b")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		before := [2]rtpStats{rtpStatsOf(t, ast, id), rtpStatsOf(t, ast, agentID)}
		const talk = 4 * time.Second
		time.Sleep(talk)
		after := [2]rtpStats{rtpStatsOf(t, ast, id), rtpStatsOf(t, ast, agentID)}
		for i, who := range []string{"customer", "agent"} {
			rx, tx := after[i].RxCount-before[i].RxCount, after[i].TxCount-before[i].TxCount
			t.Logf("%s leg over %v: %d RTP packets received, %d sent", who, talk, rx, tx)
			if rx < 175 || tx < 175 {
				t.Errorf("%s leg: %d RTP packets received and %d sent over %v; want at least 175 each way", who, rx, tx, talk)
			}
		}
		_, _ = io.WriteString(customer.stdin, "b") // the customer hangs up
	}()
	err = e.drv.Originate(context.Background(), ivr.OriginateRequest{
		Number: customerNumber, Contact: ivr.Contact{ID: "cb-7", Queue: "sales"}, Timeout: 10 * time.Second,
		CallbackID: "cb-7", Attempt: 1,
	}, func(ctx context.Context, call ivr.Call) {
		rec, err := call.(ivr.Recordable).Record(ctx, sink)
		if err != nil {
			r.err = err
			return
		}
		r.recStart = time.Now()
		bridging <- call.ID()
		r.bridgeAt = time.Now()
		r.bridgeErr = call.(ivr.Bridger).Bridge(ctx, leg)
		r.bridgeEnd = time.Now()
		r.err = rec.Stop(context.WithoutCancel(ctx))
	})
	close(over)
	<-watched
	if err != nil {
		t.Fatalf("Originate = %v", err)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !errors.Is(r.bridgeErr, ivr.ErrCallerHangup) {
		t.Errorf("Bridge = %v, want the customer's hang-up", r.bridgeErr)
	}
	// The engine hangs up the agent it dialled.
	if closed(leg.Done()) {
		t.Error("the agent's leg ended with the customer's call; it is the dialler's to hang up")
	}
	if err := leg.Hangup(context.Background(), "customer hung up"); err != nil {
		t.Errorf("hang up the agent: %v", err)
	}
	if err := leg.Err(); err != nil {
		t.Errorf("Err of an answered leg = %v", err)
	}
	waitNone(t, ast)
	waitNoCallback(t, ast)
	for _, p := range []*peer{agent, customer} {
		_, _ = io.WriteString(p.stdin, "q")
		_ = p.wait(t, 5*time.Second)
	}

	left, right, _, bad := sink.snapshot()
	if bad > 0 {
		t.Errorf("%d frames were not 160 samples on both channels", bad)
	}
	from, to := r.bridgedSpan(t, len(left))
	checkTone(t, "recording, customer's channel while bridged", left[from:to], callerHz, agentHz)
	checkTone(t, "recording, agent's channel while bridged", right[from:to], agentHz, callerHz)
	for _, h := range []struct {
		who       string
		p         *peer
		hz, other float64
	}{{"the agent", agent, callerHz, agentHz}, {"the customer", customer, agentHz, callerHz}} {
		heard := h.p.heard(t)
		if len(heard) < at(3*time.Second) {
			t.Fatalf("%s heard %d samples, want more than 3 s", h.who, len(heard))
		}
		// The last seconds of each side's file are the conversation.
		end := len(heard) - at(500*time.Millisecond)
		checkTone(t, "what "+h.who+" heard", heard[end-at(2*time.Second):end], h.hz, h.other)
	}
}

// A customer called back bridges to a browser agent's leg (a media port)
// as an inbound caller does: through an ExternalMedia channel, audio both
// ways; the agent hangs up, Bridge returns nil and serve hangs up the
// customer.
func TestCallbackBridgedMediaPort(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	ep, err := media.NewEndpoint(media.EndpointConfig{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 42000, PortMax: 42999})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	port := freePort(t, "udp")
	customer := baresipPhone(t, customerNumber, port, tone(callerHz, 30*time.Second))
	e := callbackEnv(t, ast, port, func(c *asterisk.Config) { c.Media = ep })

	browser := newRTPPeer(t, media.CodecPCMU)
	s, err := ep.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(browser.addr(), media.CodecPCMU, 101); err != nil {
		t.Fatal(err)
	}
	leg := portLeg{Session: s, codec: media.CodecPCMU}
	stopSending := make(chan struct{})
	sent := make(chan int, 1)
	go func() { sent <- browser.send(s.LocalAddr(), tone(agentHz, 30*time.Second), stopSending) }()
	defer func() { close(stopSending); <-sent }()

	var bridgeErr error
	measured := make(chan int, 1)
	err = e.drv.Originate(context.Background(), ivr.OriginateRequest{Number: customerNumber, Timeout: 10 * time.Second, CallbackID: "cb-9", Attempt: 1},
		func(ctx context.Context, call ivr.Call) {
			go func() {
				// The agent talks for a while, then hangs up.
				time.Sleep(4 * time.Second)
				before, _ := browser.received()
				time.Sleep(2 * time.Second)
				after, _ := browser.received()
				_ = leg.Hangup(context.Background(), "agent hung up")
				measured <- after - before
			}()
			bridgeErr = call.(ivr.Bridger).Bridge(ctx, leg)
		})
	if err != nil {
		t.Fatalf("Originate = %v", err)
	}
	rxDuring := <-measured
	if bridgeErr != nil {
		t.Errorf("Bridge = %v; want nil once the agent hung up", bridgeErr)
	}
	t.Logf("the browser's end received %d RTP packets over 2 s", rxDuring)
	if rxDuring < 85 {
		t.Errorf("the browser's end received %d RTP packets over 2 s, want at least 85", rxDuring)
	}
	waitNoCallback(t, ast)
	if ids := channelsLike(t, ast, "ivrd-xm-"); len(ids) != 0 {
		t.Errorf("external media channels left: %q", ids)
	}
	_, heard := browser.received()
	if len(heard) < at(3*time.Second) {
		t.Fatalf("the browser's end heard %d samples, want more than 3 s", len(heard))
	}
	end := len(heard) - at(500*time.Millisecond)
	checkTone(t, "what the browser agent heard", heard[end-at(2*time.Second):end], callerHz, agentHz)
	_, _ = io.WriteString(customer.stdin, "q")
	_ = customer.wait(t, 5*time.Second)
	heardByCustomer := customer.heard(t)
	end = len(heardByCustomer) - at(500*time.Millisecond)
	if end < at(3*time.Second) {
		t.Fatalf("the customer heard %d samples, want more than 3 s", len(heardByCustomer))
	}
	checkTone(t, "what the customer heard", heardByCustomer[end-at(2*time.Second):end], agentHz, callerHz)
}

// A customer's channel left ringing by an ivrd that died is cancelled when
// the driver connects.
func TestStaleCallbackSwept(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	port := freePort(t, "udp")
	phone := sippCustomer(t, port, "uas_ring_cancel.xml", "")
	ws := dialEvents(t, ast) // the ivrd that dies
	q := fmt.Sprintf("endpoint=%s&app=%s&appArgs=ivrd-callback&timeout=30",
		"PJSIP%2Ftrunk%2Fsip%3A0612%40127.0.0.1%3A"+strconv.Itoa(port), ast.App)
	if err := ariDo(ast, http.MethodPost, "/channels/ivrd-cb-"+ast.App+"-stale?"+q, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the phone rings
	ws.Close()
	callbackEnv(t, ast, port, nil)
	if err := phone.wait(t, 5*time.Second); err != nil {
		t.Errorf("the stale customer's phone was not cancelled: %v", err)
	}
	waitNoCallback(t, ast)
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
)

// serviceCallbacks is the number of the callbacks flow
// (testdata/flows-callbacks).
const serviceCallbacks = "4500"

// customerNumber is the caller who asks to be called back.
const customerNumber = "0612345678"

// customer is sipp playing the trunk and the customer behind it
// (testdata/sipp/customer_answer.xml): the first answerFrom-1 calls get
// 486 Busy Here, the next are answered with the caller's tone until ivrd
// hangs up.
type customer struct {
	addr string
	run  *sippUAS
}

// sippUAS is a sipp process answering calls.
type sippUAS struct {
	out    *syncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// startCustomer starts sipp on its own port for calls calls.
func startCustomer(t testing.TB, calls, answerFrom int) *customer {
	t.Helper()
	dir := t.TempDir()
	// The customer's voice: the caller's tone, raw μ-law, looped by sipp.
	if out, err := exec.Command("sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw",
		filepath.Join(dir, "customer.ul"), "synth", "10", "sine", fmt.Sprint(callerHz), "vol", "0.5").CombinedOutput(); err != nil {
		t.Fatalf("make the customer's tone: %v\n%s", err, out)
	}
	sf, err := filepath.Abs("testdata/sipp/customer_answer.xml")
	if err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)
	media := freePorts(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	u := &sippUAS{out: &syncBuffer{}, done: make(chan struct{}), cancel: cancel}
	u.cmd = exec.CommandContext(ctx, "sipp", "-sf", sf,
		"-m", strconv.Itoa(calls), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(media),
		"-key", "answer_from", strconv.Itoa(answerFrom),
		"-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	u.cmd.Dir = dir
	u.cmd.Stdout, u.cmd.Stderr = u.out, u.out
	if err := u.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		u.err = u.cmd.Wait()
		close(u.done)
	}()
	c := &customer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), run: u}
	t.Cleanup(func() {
		cancel()
		<-u.done
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			t.Logf("customer sipp:\n%s\n%s", tail(u.out.String(), 3000), b)
		}
	})
	// sipp listens once its port can no longer be bound.
	if !waitFor(5*time.Second, func() bool {
		l, err := net.ListenPacket("udp", c.addr)
		if err != nil {
			return true
		}
		l.Close()
		return false
	}) {
		t.Fatal("the customer's sipp does not listen")
	}
	return c
}

// wait waits for sipp to have taken all its calls; it fails the test
// unless each went as the scenario says.
func (c *customer) wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.run.done:
	case <-time.After(timeout):
		t.Fatalf("the customer's sipp still runs after %v", timeout)
	}
	if c.run.err != nil {
		t.Errorf("customer sipp: %v", c.run.err)
	}
}

// trunkYAML points ivrd's trunk at the customer.
func (c *customer) trunkYAML() string {
	return "  trunk:\n    address: " + c.addr + "\n    caller_id: \"0123456789\"\n"
}

// callbacks lists the callback requests, as a supervisor sees them.
func (p *ivrdProc) callbacks(t testing.TB, token string) []routing.CallbackRecord {
	t.Helper()
	code, body := p.api(t, "GET", token, "/api/callbacks", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/callbacks: %d %s", code, body)
	}
	var out struct {
		Callbacks []routing.CallbackRecord `json:"callbacks"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		var list []routing.CallbackRecord
		if err2 := json.Unmarshal(body, &list); err2 != nil {
			t.Fatalf("GET /api/callbacks: %v: %s", err, body)
		}
		return list
	}
	return out.Callbacks
}

// waitCallback waits until the request of number is in state.
func (p *ivrdProc) waitCallback(t testing.TB, token, number, state string, timeout time.Duration) routing.CallbackRecord {
	t.Helper()
	var last []routing.CallbackRecord
	if waitFor(timeout, func() bool {
		last = p.callbacks(t, token)
		for _, cb := range last {
			if cb.Number == number && cb.State == state {
				return true
			}
		}
		return false
	}) {
		for _, cb := range last {
			if cb.Number == number && cb.State == state {
				return cb
			}
		}
	}
	t.Fatalf("no callback request of %s %s after %v: %s", number, state, timeout, dump(last))
	return routing.CallbackRecord{}
}

// askCallback calls the callbacks flow as customerNumber, waits on hold,
// presses the callback key then confirms the number; ivrd says when to
// expect the call and hangs up.
func askCallback(t testing.TB, p *ivrdProc, target string) *rawCall {
	t.Helper()
	caller := dialTone(t, target, serviceCallbacks, customerNumber, callerHz)
	// The notice and its 1 s window, then the queue.
	time.Sleep(6 * time.Second)
	caller.press(t, "5")
	time.Sleep(2 * time.Second)
	caller.press(t, "1") // the number read back is right
	select {
	case <-caller.Done():
	case <-time.After(40 * time.Second):
		t.Fatal("ivrd did not hang up after taking the callback request")
	}
	return caller
}

// TestCallbackAgentFirst: a caller waiting in the queue presses 5, hears
// the number read back, confirms, is told when to expect the call and is
// hung up: the request is stored. When alice becomes available she is
// offered it; her phone (baresip) answers; ivrd calls the customer through
// the trunk (sipp), who hears the greeting and the recording notice, and
// is bridged to alice. Audio flows both ways for more than 3 s, alice
// hangs up. The request is completed in one attempt, the customer's call
// record names alice, the recording has the customer left and alice right.
func TestCallbackAgentFirst(t *testing.T) {
	t.Parallel()
	callbackAgentFirst(t, false)
}

// TestCallbackUnderAsterisk is TestCallbackAgentFirst with the calls
// under Asterisk 22: the caller calls Asterisk, which hands the call to
// ivrd; alice's phone is rung and the customer called through Asterisk's
// PJSIP trunk (ari.callback_endpoint), and the two are in one mixing
// bridge.
func TestCallbackUnderAsterisk(t *testing.T) {
	t.Parallel()
	callbackAgentFirst(t, true)
}

func callbackAgentFirst(t *testing.T, underAsterisk bool) {
	cust := startCustomer(t, 1, 1)
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "admin", "agent-alice")
	admin, alice := users["admin"].token, users["agent-alice"].token
	p, driver, target := startCallbackIvrd(t, usersYAML, phone.URI(), cust, underAsterisk)
	askCallback(t, p, target)
	rec := p.waitCallBy(t, driver, customerNumber, 10*time.Second, ended)
	if rec.Outcome != ivr.OutcomeCallback || rec.ContactID == "" {
		t.Fatalf("the caller's record: %s, want outcome callback", dump(rec))
	}
	cb := p.waitCallback(t, admin, customerNumber, ivr.CallbackPending, 5*time.Second)
	if cb.Queue != "rappels" || cb.AttemptsMade != 0 || cb.ID != rec.ContactID {
		t.Errorf("request: %s", dump(cb))
	}
	// Its place is the time the caller joined the queue, not the request's.
	if rec.QueuedAt == nil || !cb.EnqueuedAt.Equal(*rec.QueuedAt) {
		t.Errorf("request place %v, want the caller's arrival in the queue %v", cb.EnqueuedAt, rec.QueuedAt)
	}

	p.setState(t, alice, "available")
	cb = p.waitCallback(t, admin, customerNumber, ivr.CallbackActive, 30*time.Second)
	// The greeting and the recording notice (with its 3 s window) come
	// before alice: wait for the conversation.
	var talk *ivr.CallRecord
	if !waitFor(40*time.Second, func() bool {
		cbs := p.callbacks(t, admin)
		for _, c := range cbs {
			if c.ID == cb.ID && len(c.Attempts) > 0 && c.Attempts[0].CallID != "" {
				r := p.call(t, c.Attempts[0].CallID)
				if r != nil && r.ConnectedAt != nil {
					talk = r
					return true
				}
			}
		}
		return false
	}) {
		t.Fatalf("the customer was not put through to alice: %s", dump(p.callbacks(t, admin)))
	}
	time.Sleep(minTalk + 2*time.Second)
	if err := phone.Command("b"); err != nil {
		t.Fatal(err)
	}
	cust.wait(t, 15*time.Second) // ivrd hung up the customer
	talk = p.waitCall(t, talk.ID, 10*time.Second, ended)
	if talk.Driver != "callback" || talk.Outcome != ivr.OutcomeConnected || talk.Agent != "agent-alice" ||
		talk.EndedBy != ivr.EndedByAgent || talk.Talk < minTalk || talk.ContactID != cb.ID {
		t.Errorf("the customer's record: %s", dump(talk))
	}
	if talk.Vars[ivr.VarConsent] != "accepted" {
		t.Errorf("consent on the call back = %q, want asked and accepted", talk.Vars[ivr.VarConsent])
	}
	cb = p.waitCallback(t, admin, customerNumber, ivr.CallbackCompleted, 10*time.Second)
	if cb.AttemptsMade != 1 || len(cb.Attempts) != 1 || cb.Attempts[0].Agent != "agent-alice" {
		t.Errorf("request after the call: %s", dump(cb))
	}
	if err := phone.Close(); err != nil {
		t.Logf("close baresip: %v", err)
	}
	heard, err := phone.Received()
	if err != nil || len(heard) != 1 {
		t.Fatalf("baresip recorded %d calls (%v), want 1", len(heard), err)
	}
	got := heard[0]
	// alice hears silence while the customer is called and greeted: the
	// customer's voice is the end of what she heard.
	n := int(minTalk.Seconds() * 8000)
	if len(got) < n+8000 {
		t.Fatalf("alice heard %d samples, want more than %v", len(got), minTalk)
	}
	checkTone(t, "alice hears the customer", got[len(got)-n-4000:len(got)-4000], callerHz, minTalk-time.Second)
	p.checkRecordedConversation(t, admin, talk.ID)
	if !underAsterisk && !strings.Contains(p.log.String(), "bridge ended") {
		t.Error("no relay between the legs in the log")
	}

	// The figures: one requested, one completed (the key was pressed
	// before any offer).
	code, body := p.api(t, "GET", admin, "/api/stats", nil)
	if code != http.StatusOK {
		t.Fatalf("/api/stats: %d %s", code, body)
	}
	var stats struct {
		Intervals []struct {
			Name  string `json:"name"`
			Total struct {
				Callbacks routing.CallbackStats `json:"callbacks"`
			} `json:"total"`
		} `json:"intervals"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatal(err)
	}
	for _, in := range stats.Intervals {
		if in.Name != "15m" {
			continue
		}
		c := in.Total.Callbacks
		if c.Requested != 1 || c.Completed != 1 || c.AverageTimeToCallbackSeconds == nil {
			t.Errorf("callback figures: %s, want 1 requested, 1 completed, a time to callback", dump(c))
		}
	}
}

// startCallbackIvrd starts ivrd on the callbacks flow with alice's phone,
// calling customers through cust: its own SIP trunk, or under Asterisk
// 22 (the calls come through Asterisk, customers are called through its
// PJSIP trunk). It returns the driver of the calls and where to call.
func startCallbackIvrd(t *testing.T, usersYAML, phone string, cust *customer, underAsterisk bool) (*ivrdProc, string, string) {
	t.Helper()
	opts := ivrdOptions{
		Flows: "testdata/flows-callbacks",
		HTTP:  usersYAML,
		SIP:   cust.trunkYAML(),
		Config: fmt.Sprintf(`routing:
  offer_timeout: 10s
  wrap_up: 1s
  agents:
    - {name: agent-alice, phone: "%s", skills: {fr: 1}, languages: [fr]}
`, phone),
	}
	if !underAsterisk {
		p := startIvrd(t, opts)
		return p, "sip", p.sipAddr
	}
	ast := asterisktest.Start(t, asterisktest.Options{})
	opts.SIP = ""
	opts.Config += fmt.Sprintf(`ari:
  enabled: true
  url: %s
  user: %s
  password: %q
  app: %s
  reconnect_min: 100ms
  reconnect_max: 1s
  callback_endpoint: "PJSIP/trunk/sip:{number}@%s"
`, ast.ARIURL, ast.User, ast.Password, ast.App, cust.addr)
	p := startIvrd(t, opts)
	waitStasisApp(t, ast)
	return p, "ari", ast.SIPAddr
}

// TestCallbackRetriesBusy: the customer's line is busy twice (486), then
// answers: three attempts, 10 s apart, each offered to alice first; under
// both drivers.
func TestCallbackRetriesBusy(t *testing.T) {
	t.Parallel()
	for _, underAsterisk := range []bool{false, true} {
		t.Run(map[bool]string{false: "sip", true: "asterisk"}[underAsterisk], func(t *testing.T) {
			t.Parallel()
			callbackRetriesBusy(t, underAsterisk)
		})
	}
}

func callbackRetriesBusy(t *testing.T, underAsterisk bool) {
	cust := startCustomer(t, 3, 3)
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "admin", "agent-alice")
	admin, alice := users["admin"].token, users["agent-alice"].token
	p, _, target := startCallbackIvrd(t, usersYAML, phone.URI(), cust, underAsterisk)
	askCallback(t, p, target)
	p.setState(t, alice, "available")

	var cb routing.CallbackRecord
	if !waitFor(90*time.Second, func() bool {
		for _, c := range p.callbacks(t, admin) {
			if c.Number == customerNumber && c.AttemptsMade == 3 && c.State == ivr.CallbackActive {
				cb = c
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no third attempt: %s", dump(p.callbacks(t, admin)))
	}
	time.Sleep(12 * time.Second) // greeting, notice, then talk
	if err := phone.Command("b"); err != nil {
		t.Fatal(err)
	}
	cust.wait(t, 20*time.Second)
	cb = p.waitCallback(t, admin, customerNumber, ivr.CallbackCompleted, 10*time.Second)
	var results []string
	for _, a := range cb.Attempts {
		results = append(results, a.Result)
	}
	if len(cb.Attempts) != 3 || results[0] != ivr.CallbackBusy || results[1] != ivr.CallbackBusy {
		t.Fatalf("attempts %q, want busy, busy, then answered: %s", results, dump(cb))
	}
	if gap := cb.Attempts[1].StartedAt.Sub(cb.Attempts[0].StartedAt); gap < 10*time.Second {
		t.Errorf("second attempt %v after the first, want the retry delay (10 s)", gap)
	}
}

// TestCallbackSurvivesKill: a request is stored while no agent is
// available; ivrd is killed (SIGKILL) and started again; the request is
// still there and, once alice is available, the customer is called.
func TestCallbackSurvivesKill(t *testing.T) {
	t.Parallel()
	cust := startCustomer(t, 1, 1)
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "admin", "agent-alice")
	admin, alice := users["admin"].token, users["agent-alice"].token
	p, _, target := startCallbackIvrd(t, usersYAML, phone.URI(), cust, false)
	askCallback(t, p, target)
	before := p.waitCallback(t, admin, customerNumber, ivr.CallbackPending, 5*time.Second)

	p.signal(os.Kill)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("ivrd did not die")
	}
	p.stopped.Store(true)
	q := restart(t, p)
	after := q.waitCallback(t, admin, customerNumber, ivr.CallbackPending, 5*time.Second)
	if after.ID != before.ID || !after.EnqueuedAt.Equal(before.EnqueuedAt) {
		t.Errorf("after the restart: %s, want the same request at the same place as %s", dump(after), dump(before))
	}
	q.setState(t, alice, "available")
	q.waitCallback(t, admin, customerNumber, ivr.CallbackActive, 30*time.Second)
	time.Sleep(15 * time.Second) // the customer answers, is greeted, talks
	if err := phone.Command("b"); err != nil {
		t.Fatal(err)
	}
	cust.wait(t, 20*time.Second)
	done := q.waitCallback(t, admin, customerNumber, ivr.CallbackCompleted, 10*time.Second)
	if done.AttemptsMade != 1 {
		t.Errorf("attempts %d, want 1: %s", done.AttemptsMade, dump(done))
	}
}

// TestCallbackOfferedOnLongWait: alice is busy with a first caller; a
// second caller waits, and, the estimated wait being over 30 s, is offered
// the callback with the first hold prompt; the offer is counted.
func TestCallbackOfferedOnLongWait(t *testing.T) {
	t.Parallel()
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "admin", "agent-alice")
	admin, alice := users["admin"].token, users["agent-alice"].token
	p := startIvrd(t, ivrdOptions{
		Flows: "testdata/flows-callbacks",
		HTTP:  usersYAML,
		Config: fmt.Sprintf(`routing:
  offer_timeout: 10s
  wrap_up: 1s
  agents:
    - {name: agent-alice, phone: "%s", skills: {fr: 1}, languages: [fr]}
`, phone.URI()),
	})
	p.setState(t, alice, "available")
	first := dialTone(t, p.sipAddr, serviceCallbacks, "0611000001", callerHz)
	defer first.Bye(context.Background())
	if rec := p.waitAgent(t, "sip", "0611000001", 30*time.Second); rec.Agent != "agent-alice" {
		t.Fatalf("the first call did not reach alice: %s", dump(rec))
	}
	second := dialTone(t, p.sipAddr, serviceCallbacks, "0611000002", callerHz)
	defer second.Bye(context.Background())
	var rec *ivr.CallRecord
	if !waitFor(30*time.Second, func() bool {
		rec = p.callBy(t, "sip", "0611000002")
		if rec == nil {
			return false
		}
		for _, v := range rec.Visits {
			if strings.HasPrefix(v.Result, "callback offered") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the second caller was not offered a callback: %s", dump(rec))
	}
	code, body := p.api(t, "GET", admin, "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	if v, ok := metricValue(string(body), `ivrd_offered_callbacks{interval="15m"}`); !ok || v != 1 {
		t.Errorf(`ivrd_offered_callbacks{interval="15m"} = %v (found %v), want 1`, v, ok)
	}
}

// TestCallbackCancelledByCallingAgain: a caller with a request pending
// calls again, is asked whether to keep it and presses 2: the request is
// cancelled and never placed.
func TestCallbackCancelledByCallingAgain(t *testing.T) {
	t.Parallel()
	cust := startCustomer(t, 1, 1)
	users, usersYAML := newUsers(t, "admin")
	admin := users["admin"].token
	p := startIvrd(t, ivrdOptions{
		Flows: "testdata/flows-callbacks",
		HTTP:  usersYAML,
		SIP:   cust.trunkYAML(),
		Config: `routing:
  agents:
    - {name: agent-alice, skills: {fr: 1}, languages: [fr]}
`,
	})
	askCallback(t, p, p.sipAddr)
	cb := p.waitCallback(t, admin, customerNumber, ivr.CallbackPending, 5*time.Second)

	again := dialTone(t, p.sipAddr, serviceCallbacks, customerNumber, callerHz)
	time.Sleep(2 * time.Second) // into "Vous avez déjà demandé à être rappelé…"
	again.press(t, "2")
	select {
	case <-again.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("ivrd did not hang up after the cancellation")
	}
	got := p.waitCallback(t, admin, customerNumber, ivr.CallbackCancelled, 5*time.Second)
	if got.ID != cb.ID || got.AttemptsMade != 0 {
		t.Errorf("cancelled request: %s", dump(got))
	}
}

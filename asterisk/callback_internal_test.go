package asterisk

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

func TestCheckCallbackEndpoint(t *testing.T) {
	for _, ok := range []string{
		"PJSIP/{number}@trunk",
		"PJSIP/trunk/sip:{number}@10.0.0.1",
		"PJSIP/trunk/sip:{number}@10.0.0.1:5060;transport=tcp",
		"SIP/trunk/{number}",
		"Local/{number}@outbound",
	} {
		if err := CheckCallbackEndpoint(ok); err != nil {
			t.Errorf("CheckCallbackEndpoint(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"",
		"PJSIP/trunk",                        // no {number}
		"PJSIP/{numero}@trunk",               // a typo
		"PJSIP/{number}@trunk&PJSIP/other",   // a second channel
		"PJSIP/{number}@trunk,30",            // dial options
		"PJSIP/{number} @trunk",              // blank
		"{number}@trunk",                     // no technology
		"PJSIP/",                             // no resource
		"PJ SIP/{number}",                    // not a technology
		"PJSIP/{number}@trunk\n",             // control character
		"PJSIP/{number}@{host}",              // another placeholder
		"PJ\"SIP/{number}",                   // quote
		"PJSIP/sip:{number}@h|PJSIP/premium", // alternative separator
	} {
		if err := CheckCallbackEndpoint(bad); err == nil {
			t.Errorf("CheckCallbackEndpoint(%q) = nil, want an error", bad)
		}
	}
}

func TestCallbackDialString(t *testing.T) {
	got, err := callbackDialString("PJSIP/trunk/sip:{number}@10.0.0.1", "+33612345678")
	if err != nil || got != "PJSIP/trunk/sip:+33612345678@10.0.0.1" {
		t.Errorf("callbackDialString = %q, %v", got, err)
	}
	if got, err := callbackDialString("PJSIP/{number}@trunk", "0612345678"); err != nil || got != "PJSIP/0612345678@trunk" {
		t.Errorf("callbackDialString = %q, %v", got, err)
	}
	for _, bad := range []string{"", "+", "++33", "33+", "06-12", "06 12", "0612&PJSIP/x", "0612@h", "*97", "#", "٠٦١٢",
		"0612345678901234567890", "0612\n"} {
		if _, err := callbackDialString("PJSIP/{number}@trunk", bad); !errors.Is(err, ErrBadNumber) {
			t.Errorf("callbackDialString(%q) = %v, want ErrBadNumber", bad, err)
		}
	}
}

func TestParseCallerID(t *testing.T) {
	for in, want := range map[string]string{
		"+33123456789":             "<+33123456789>",
		"0123456789":               "<0123456789>",
		`"Acme" <+33123456789>`:    `"Acme" <+33123456789>`,
		`Acme SAS <0123456789>`:    `"Acme SAS" <0123456789>`,
		`<0123456789>`:             `<0123456789>`,
		` "Service client" <123> `: `"Service client" <123>`,
	} {
		got, err := ParseCallerID(in)
		if err != nil || got != want {
			t.Errorf("ParseCallerID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"Acme", "<>", "Acme <abc>", `"A"c"me" <123>`, "Acme <123", "A\x00 <123>", "<123> x", "Acme <12 3>"} {
		if got, err := ParseCallerID(bad); err == nil {
			t.Errorf("ParseCallerID(%q) = %q, want an error", bad, got)
		}
	}
}

func TestCalleeCauseError(t *testing.T) {
	for _, tt := range []struct {
		cause int
		want  error
	}{
		{17, ivr.ErrCalleeBusy},
		{16, ivr.ErrCalleeNoAnswer},
		{18, ivr.ErrCalleeNoAnswer},
		{19, ivr.ErrCalleeNoAnswer},
		{21, ivr.ErrCalleeRejected},
	} {
		if err := calleeCauseError(tt.cause, "x"); !errors.Is(err, tt.want) {
			t.Errorf("cause %d: %v, want %v", tt.cause, err, tt.want)
		}
	}
	for _, cause := range []int{0, 1, 3, 27, 34, 38, 127} {
		err := calleeCauseError(cause, "")
		for _, w := range []error{ivr.ErrCalleeBusy, ivr.ErrCalleeNoAnswer, ivr.ErrCalleeRejected} {
			if errors.Is(err, w) {
				t.Errorf("cause %d: %v; not %v", cause, err, w)
			}
		}
		if !strings.Contains(err.Error(), "hang-up cause") {
			t.Errorf("cause %d: %v does not say the cause", cause, err)
		}
	}
}

func TestCallbackConfig(t *testing.T) {
	base := Config{URL: "http://127.0.0.1:8088/ari", App: "ivrd", Handler: func(context.Context, ivr.Call) {}}
	cfg, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CallbackRingTimeout != DefaultCallbackRingTimeout || cfg.CallbackEndpoint != "" {
		t.Errorf("defaults: ring %v endpoint %q", cfg.CallbackRingTimeout, cfg.CallbackEndpoint)
	}
	c := base
	c.CallbackEndpoint, c.CallbackCallerID, c.CallbackRingTimeout = "PJSIP/{number}@trunk", "Acme <+33100000000>", 20*time.Second
	if cfg, err = c.withDefaults(); err != nil || cfg.CallbackCallerID != `"Acme" <+33100000000>` || cfg.CallbackRingTimeout != 20*time.Second {
		t.Errorf("withDefaults = %+v, %v", cfg, err)
	}
	for name, mod := range map[string]func(*Config){
		"endpoint":  func(c *Config) { c.CallbackEndpoint = "PJSIP/trunk" },
		"caller id": func(c *Config) { c.CallbackCallerID = "Acme" },
		"timeout":   func(c *Config) { c.CallbackRingTimeout = -time.Second },
	} {
		c := base
		mod(&c)
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCallbackVars(t *testing.T) {
	r := ivr.OriginateRequest{CallbackID: "cb-1", Attempt: 3, Contact: ivr.Contact{Queue: "sales"}}
	v := callbackVars(r, "PJSIP/trunk/sip:0612@h")
	want := map[string]string{
		"IVRD_CALLBACK_ID": "cb-1", "IVRD_CALLBACK_QUEUE": "sales", "IVRD_CALLBACK_ATTEMPT": "3",
		"PJSIP_HEADER(add,X-IVRD-Callback-ID)": "cb-1", "PJSIP_HEADER(add,X-IVRD-Callback-Attempt)": "3",
	}
	if len(v) != len(want) {
		t.Errorf("vars %v, want %v", v, want)
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	// No headers on another technology; none with an id a header cannot hold.
	if v := callbackVars(r, "Local/0612@out"); len(v) != 3 {
		t.Errorf("Local vars %v, want the three variables only", v)
	}
	r.CallbackID = "cb\r\nX-Evil: 1"
	if v := callbackVars(r, "PJSIP/0612@trunk"); v["PJSIP_HEADER(add,X-IVRD-Callback-ID)"] != "" {
		t.Errorf("header holds %q", v["PJSIP_HEADER(add,X-IVRD-Callback-ID)"])
	}
}

// runCallbackDriver runs a driver calling customers back through
// PJSIP/trunk/sip:{number}@192.0.2.1 on f; inbound calls go to handler.
// stop stops it and waits for Run to return.
func runCallbackDriver(t *testing.T, f *fakeARI, handler func(context.Context, ivr.Call)) (d *Driver, stop func()) {
	t.Helper()
	d, err := New(Config{
		URL: f.srv.URL + "/ari", User: "ivrd", Password: "secret", App: "ivrd",
		PromptBaseURL:       "http://127.0.0.1:8080/prompts",
		CallbackEndpoint:    "PJSIP/trunk/sip:{number}@192.0.2.1",
		CallbackCallerID:    "Acme <+33100000000>",
		CallbackRingTimeout: 10 * time.Second,
		Backoff:             Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		Logger:              slog.New(slog.NewTextHandler(&syncBuf{}, nil)),
		Handler:             handler,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	var once bool
	stop = func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	<-f.conns
	// Connected once the leftovers are swept, the last step.
	waitFor(t, "the driver connected", func() bool { return f.sawRequest("GET /channels?") })
	return d, stop
}

// originated waits for the driver's n-th originate of a customer and
// returns the request and the channel id.
func (f *fakeARI) originated(t *testing.T, n int) (req, id string) {
	t.Helper()
	var list []string
	waitFor(t, "the customer's channel requested", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		list = list[:0]
		for _, r := range f.requests {
			if strings.HasPrefix(r, "POST /channels/ivrd-cb-ivrd-") {
				list = append(list, r)
			}
		}
		return len(list) >= n
	})
	req = list[n-1]
	return req, req[len("POST /channels/"):strings.Index(req, "?")]
}

// Originate over ARI events: the customer's channel is requested into the
// application marked as a callback, with the caller ID, the ring bound of
// the shorter timeout plus the backstop and the number in the trunk's
// dial string. A busy phone's ChannelDestroyed gives ErrCalleeBusy; an
// answer (StasisStart) runs serve with a call of the driver, counted as
// active, not handed to the inbound handler, whose keys arrive and whose
// hang-up ends serve's context, without ivrd sending a hang-up of its own.
// A customer's channel entering the application with no Originate waiting
// is hung up.
func TestOriginateOverEvents(t *testing.T) {
	f := newFakeARI(t, "secret")
	inbound := make(chan string, 4)
	d, _ := runCallbackDriver(t, f, func(ctx context.Context, c ivr.Call) { inbound <- c.ID() })

	// Busy.
	errs := make(chan error, 1)
	go func() {
		errs <- d.Originate(context.Background(), ivr.OriginateRequest{Number: "+33612345678", Timeout: 30 * time.Second, CallbackID: "cb-1", Attempt: 1},
			func(context.Context, ivr.Call) { t.Error("serve ran for a busy customer") })
	}()
	req, id := f.originated(t, 1)
	for _, want := range []string{"app=ivrd", "appArgs=ivrd-callback", "callerId=%22Acme%22+%3C%2B33100000000%3E",
		"endpoint=PJSIP%2Ftrunk%2Fsip%3A%2B33612345678%40192.0.2.1", "timeout=12"} {
		if !strings.Contains(req, want) {
			t.Errorf("originate %q lacks %s", req, want)
		}
	}
	if strings.Contains(req, "originator=") {
		t.Errorf("originate %q has an originator; a customer's call has none", req)
	}
	f.send(t, `{"type":"ChannelHangupRequest","application":"ivrd","cause":17,"channel":{"id":"`+id+`"}}`)
	f.send(t, `{"type":"ChannelDestroyed","application":"ivrd","cause":17,"cause_txt":"User busy","channel":{"id":"`+id+`"}}`)
	select {
	case err := <-errs:
		if !errors.Is(err, ivr.ErrCalleeBusy) {
			t.Errorf("Originate = %v, want ErrCalleeBusy", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Originate did not return for a busy customer")
	}

	// Answered.
	type seen struct {
		id, caller string
		active     int
		key        ivr.DTMF
		cause      error
	}
	served := make(chan seen, 1)
	go func() {
		errs <- d.Originate(context.Background(), ivr.OriginateRequest{Number: "0612345678", CallbackID: "cb-2", Attempt: 2},
			func(ctx context.Context, c ivr.Call) {
				s := seen{id: c.ID(), caller: c.Caller(), active: d.ActiveCalls()}
				select {
				case s.key = <-c.DTMF():
				case <-time.After(5 * time.Second):
				}
				<-ctx.Done()
				s.cause = context.Cause(ctx)
				served <- s
			})
	}()
	req, id = f.originated(t, 2)
	if !strings.Contains(req, "timeout=12") { // the driver's 10 s bound, plus 2
		t.Errorf("originate %q: want timeout=12", req)
	}
	f.send(t, `{"type":"StasisStart","application":"ivrd","args":["ivrd-callback"],"channel":{"id":"`+id+`","name":"PJSIP/trunk-2","state":"Up","caller":{"number":"+33100000000"}}}`)
	f.send(t, `{"type":"ChannelDtmfReceived","application":"ivrd","digit":"7","channel":{"id":"`+id+`"}}`)
	f.send(t, `{"type":"ChannelHangupRequest","application":"ivrd","cause":16,"channel":{"id":"`+id+`"}}`)
	var s seen
	select {
	case s = <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not end with the customer's hang-up")
	}
	if err := <-errs; err != nil {
		t.Errorf("Originate = %v, want nil", err)
	}
	if s.id != id || s.caller != "0612345678" || s.active != 1 || s.key.Digit != '7' || !errors.Is(s.cause, ivr.ErrCallerHangup) {
		t.Errorf("serve saw %+v; want call %s from 0612345678, active, key 7, ended by the customer", s, id)
	}
	if f.sawRequest("DELETE /channels/" + id) {
		t.Error("the driver hung up a customer who had hung up")
	}
	if n := d.ActiveCalls(); n != 0 || len(inbound) != 0 {
		t.Errorf("%d active calls, %d inbound calls; want none", n, len(inbound))
	}

	// A customer's channel nobody waits for.
	f.send(t, `{"type":"StasisStart","application":"ivrd","args":["ivrd-callback"],"channel":{"id":"ivrd-cb-ivrd-gone","state":"Up"}}`)
	waitFor(t, "the stale customer's channel hung up", func() bool { return f.sawRequest("DELETE /channels/ivrd-cb-ivrd-gone") })
	if len(inbound) != 0 {
		t.Error("a customer's channel was served as an inbound call")
	}
}

// A driver that stops cancels the customers' phones still ringing
// (Originate returns ivr.ErrShutdown) and hangs up the agents' phones it
// rang for no call; a draining driver places no call, and one with no
// callback endpoint says callbacks are not available.
func TestOriginateShutdown(t *testing.T) {
	f := newFakeARI(t, "secret")
	d, stop := runCallbackDriver(t, f, func(context.Context, ivr.Call) {})
	leg, err := d.Dial(context.Background(), ivr.DialRequest{
		Offer:   ivr.Offer{ID: "o1", Agent: "alice", Phone: "sip:alice@192.0.2.7"},
		Contact: ivr.Contact{ID: "cb-1", Caller: "+33612345678"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var dial string
	f.mu.Lock()
	for _, r := range f.requests {
		if strings.HasPrefix(r, "POST /channels/ivrd-agent-ivrd-") {
			dial = r
		}
	}
	f.mu.Unlock()
	if !strings.Contains(dial, "callerId=%3C%2B33612345678%3E") || strings.Contains(dial, "originator=") {
		t.Errorf("agent's originate %q: want the customer's number, no originator", dial)
	}
	agentID := dial[len("POST /channels/"):strings.Index(dial, "?")]

	errs := make(chan error, 1)
	go func() {
		errs <- d.Originate(context.Background(), ivr.OriginateRequest{Number: "0612345678", CallbackID: "cb-1", Attempt: 1},
			func(context.Context, ivr.Call) { t.Error("serve ran") })
	}()
	_, id := f.originated(t, 1)
	stop()
	select {
	case err := <-errs:
		if !errors.Is(err, ivr.ErrShutdown) {
			t.Errorf("Originate = %v, want ErrShutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Originate did not return when the driver stopped")
	}
	if !f.sawRequest("DELETE /channels/" + id) {
		t.Error("the ringing customer was not cancelled")
	}
	if !f.sawRequest("DELETE /channels/" + agentID) {
		t.Error("the agent's phone rung for no call was left up")
	}
	select {
	case <-leg.Done():
	default:
		t.Error("the agent's leg is not done after the driver stopped")
	}

	f2 := newFakeARI(t, "secret")
	d2, _ := runCallbackDriver(t, f2, func(context.Context, ivr.Call) {})
	d2.Drain()
	if err := d2.Originate(context.Background(), ivr.OriginateRequest{Number: "0612"}, func(context.Context, ivr.Call) {}); !errors.Is(err, ivr.ErrShutdown) {
		t.Errorf("Originate while draining = %v, want ErrShutdown", err)
	}
	if f2.sawRequest("POST /channels/") {
		t.Error("a draining driver placed a call")
	}

	d3, err := New(Config{URL: "http://127.0.0.1:1/ari", App: "ivrd", Handler: func(context.Context, ivr.Call) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d3.Originate(context.Background(), ivr.OriginateRequest{Number: "0612"}, func(context.Context, ivr.Call) {}); !errors.Is(err, ivr.ErrNoCallbacks) {
		t.Errorf("Originate with no callback endpoint = %v, want ErrNoCallbacks", err)
	}
}

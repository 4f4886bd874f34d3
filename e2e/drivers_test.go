package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
)

// serviceShared is the number of the flow of testdata/flows-shared, which
// every row of driverRows calls.
const serviceShared = "4200"

// bargeInBefore bounds, in the barge-in row, the time from the start of the
// menu to the start of the node its key chose. The key comes one second
// after the answer (Asterisk reports it when the key ends, 140 ms later);
// the greeting lasts about 5.6 s, so a node entered within 3 s shows the
// key cut the prompt instead of waiting for its end.
const bargeInBefore = 3 * time.Second

// step is one visit of a call record: the node and its result, with the
// duration of a queue wait ("abandoned after 2.1s") left out.
type step struct {
	Node   string
	Kind   ivr.NodeKind
	Result string
}

// driverRow is one scenario of the table both drivers run: what the caller
// does (a sipp scenario) and what the call record and the queue must show.
type driverRow struct {
	name     string
	scenario string        // file under testdata/sipp
	hold     time.Duration // sipp's -d: how long the caller stays after the keys
	caller   string        // From user, unique per row: finds the record

	steps   []step
	digits  string
	outcome ivr.Outcome
	queue   string            // the queue of the record, and where the contact waits
	vars    map[string]string // variables the record must hold (built-ins aside)

	// contact is the context the queued contact must carry while the
	// caller waits (compared on the fields set here).
	contact *routing.WaitingContact
	// bargeIn asks for the check that the node after the first one was
	// entered within bargeInBefore of the menu's start.
	bargeIn bool
	// minWait is the least queue wait the record must show.
	minWait time.Duration
}

var driverRows = []driverRow{
	{
		name:     "barge-in choice",
		scenario: "shared_key1_hold.xml",
		hold:     2 * time.Second,
		caller:   "0642000001",
		steps: []step{
			{"welcome", ivr.KindMenu, "key 1"},
			{"support", ivr.KindQueue, "abandoned"},
		},
		digits:  "1",
		outcome: ivr.OutcomeAbandoned,
		queue:   "shared-support",
		vars:    map[string]string{"reason": "support"},
		bargeIn: true,
	},
	{
		name:     "retries then failure target",
		scenario: "shared_silent.xml",
		caller:   "0642000002",
		steps: []step{
			{"welcome", ivr.KindMenu, "no input; no input; no input; failed"},
			{"failed", ivr.KindHangup, ""},
		},
		outcome: ivr.OutcomeHangup,
	},
	{
		name:     "operator key",
		scenario: "shared_key0_hold.xml",
		hold:     2 * time.Second,
		caller:   "0642000003",
		steps: []step{
			{"welcome", ivr.KindMenu, "operator"},
			{"operator", ivr.KindQueue, "abandoned"},
		},
		digits:  "0",
		outcome: ivr.OutcomeAbandoned,
		queue:   "shared-operator",
		contact: &routing.WaitingContact{Intent: "operator"},
	},
	{
		name:     "collect with terminator",
		scenario: "shared_account_hold.xml",
		hold:     2 * time.Second,
		caller:   "0642000004",
		steps: []step{
			{"welcome", ivr.KindMenu, "key 2"},
			{"account", ivr.KindCollect, "collected 345678 (terminator)"},
			{"billing", ivr.KindQueue, "abandoned"},
		},
		digits:  "2345678#",
		outcome: ivr.OutcomeAbandoned,
		queue:   "shared-billing",
		vars:    map[string]string{"account": "345678"},
		contact: &routing.WaitingContact{
			Intent: "account 345678",
			Skills: []string{"en", "billing"},
			Vars:   map[string]string{"account": "345678"},
		},
	},
	{
		name:     "queue handoff with context",
		scenario: "shared_key3_hold.xml",
		hold:     2 * time.Second,
		caller:   "0642000005",
		steps: []step{
			{"welcome", ivr.KindMenu, "key 3"},
			{"sales", ivr.KindQueue, "abandoned"},
		},
		digits:  "3",
		outcome: ivr.OutcomeAbandoned,
		queue:   "shared-sales",
		vars:    map[string]string{"reason": "sales", "product": "fibre"},
		contact: &routing.WaitingContact{
			Intent:   "sales for fibre",
			Priority: 2,
			Skills:   []string{"en", "sales"},
			Vars:     map[string]string{"reason": "sales", "product": "fibre"},
		},
	},
	{
		name:     "caller hangs up in queue",
		scenario: "shared_key1_hold.xml",
		hold:     3 * time.Second,
		caller:   "0642000006",
		steps: []step{
			{"welcome", ivr.KindMenu, "key 1"},
			{"support", ivr.KindQueue, "abandoned"},
		},
		digits:  "1",
		outcome: ivr.OutcomeAbandoned,
		queue:   "shared-support",
		vars:    map[string]string{"reason": "support"},
		contact: &routing.WaitingContact{
			Intent: "support request",
			Skills: []string{"en", "support"},
			Vars:   map[string]string{"reason": "support"},
		},
		minWait: 2 * time.Second,
	},
}

// driverTarget is one way into ivrd: the record's driver name and the SIP
// address sipp calls.
type driverTarget struct {
	name   string // "sip" or "ari"
	target string
}

// TestDrivers runs driverRows under both drivers of one ivrd: sipp calling
// ivrd's own SIP port, and sipp calling a real Asterisk 22 whose dialplan
// hands the channel to ivrd's Stasis application. Each row must pass on
// each driver, and both drivers must leave the same record: same nodes and
// results, keys, outcome, queue, variables and queued context.
func TestDrivers(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	p := startIvrd(t, ivrdOptions{
		Flows: "testdata/flows-shared",
		Config: fmt.Sprintf(`ari:
  enabled: true
  url: %s
  user: %s
  password: %q
  app: %s
  reconnect_min: 100ms
  reconnect_max: 1s
`, ast.ARIURL, ast.User, ast.Password, ast.App),
	})
	waitStasisApp(t, ast)
	drivers := []driverTarget{{"sip", p.sipAddr}, {"ari", ast.SIPAddr}}

	// Every call of the table runs at once: the calls mostly wait (prompts
	// play in real time), and parallel subtests would be held to
	// -parallel, GOMAXPROCS by default. Run may be called from several
	// goroutines; it returns when its subtest ends.
	var rows sync.WaitGroup
	for _, row := range driverRows {
		rows.Go(func() {
			t.Run(row.name, func(t *testing.T) {
				got := make([]callShape, len(drivers))
				var calls sync.WaitGroup
				for i, d := range drivers {
					calls.Go(func() {
						t.Run(d.name, func(t *testing.T) { got[i] = runDriverRow(t, p, d, row) })
					})
				}
				calls.Wait()
				if t.Failed() {
					return
				}
				if !reflect.DeepEqual(got[0], got[1]) {
					t.Errorf("the drivers left different records:\n%s: %s\n%s: %s",
						drivers[0].name, dump(got[0]), drivers[1].name, dump(got[1]))
				}
			})
		})
	}
	rows.Wait()
}

// callShape is what both drivers must agree on for a row: a call record and
// its queued contact without ids, times and waits.
type callShape struct {
	Flow, Dialled, Caller, Language string
	Steps                           []step
	Digits                          string
	Outcome                         ivr.Outcome
	Queue                           string
	Vars                            map[string]string
	Contact                         *routing.WaitingContact
}

// runDriverRow places the row's call through d and checks the record and
// the queue; it returns the call's shape for the comparison of drivers.
func runDriverRow(t *testing.T, p *ivrdProc, d driverTarget, row driverRow) callShape {
	s := startSippAt(t, d.target, row.scenario, serviceShared,
		"-key", "caller", row.caller, "-d", fmt.Sprint(row.hold.Milliseconds()))

	// While the caller waits: the live record says queued, and the queue
	// lists the contact with what the flow learnt.
	var contact *routing.WaitingContact
	if row.queue != "" {
		live := p.waitCallBy(t, d.name, row.caller, 15*time.Second, func(r *ivr.CallRecord) bool {
			return r.Outcome == ivr.OutcomeQueued || r.EndedAt != nil
		})
		if live.Outcome != ivr.OutcomeQueued || live.Queue != row.queue {
			t.Fatalf("while waiting: outcome %q queue %q, want queued in %s; record: %s",
				live.Outcome, live.Queue, row.queue, dump(live))
		}
		contact = p.waitContact(t, row.queue, live.ID, 5*time.Second)
		checkContact(t, contact, live, row)
	}

	requireSippOK(t, s.wait(t))
	rec := p.waitCallBy(t, d.name, row.caller, 10*time.Second, ended)
	if d.name == "sip" && rec.ID != s.CallID {
		t.Errorf("record id %q, want sipp's Call-ID %q", rec.ID, s.CallID)
	}
	checkRecord(t, rec, row)
	if row.queue != "" {
		// The caller left: the contact no longer waits.
		if c := p.queuedContact(t, row.queue, rec.ID); c != nil {
			t.Errorf("contact still in %s after the caller hung up: %s", row.queue, dump(c))
		}
	}
	return shapeOf(rec, contact)
}

// checkRecord compares a final record with the row.
func checkRecord(t *testing.T, rec *ivr.CallRecord, row driverRow) {
	t.Helper()
	if got := steps(rec); !slices.Equal(got, row.steps) {
		t.Errorf("visits %s, want %s", dump(got), dump(row.steps))
	}
	if rec.Digits != row.digits || rec.Outcome != row.outcome || rec.Queue != row.queue {
		t.Errorf("digits %q outcome %q queue %q, want %q %q %q",
			rec.Digits, rec.Outcome, rec.Queue, row.digits, row.outcome, row.queue)
	}
	if rec.Flow != "e2e-shared" || rec.Dialled != serviceShared || rec.Caller != row.caller || rec.Language != "en" {
		t.Errorf("flow %q dialled %q caller %q language %q, want e2e-shared %s %s en",
			rec.Flow, rec.Dialled, rec.Caller, rec.Language, serviceShared, row.caller)
	}
	for k, v := range row.vars {
		if rec.Vars[k] != v {
			t.Errorf("var %s = %q, want %q; vars: %v", k, rec.Vars[k], v, rec.Vars)
		}
	}
	if row.queue != "" && (rec.QueueWait <= 0 || rec.QueueWait < row.minWait) {
		t.Errorf("queue wait %v, want more than 0 and at least %v", rec.QueueWait, row.minWait)
	}
	if row.bargeIn && len(rec.Visits) > 1 {
		cut := rec.Visits[1].At.Sub(rec.Visits[0].At)
		t.Logf("%s reached %v after the menu started", rec.Visits[1].Node, cut)
		if cut > bargeInBefore {
			t.Errorf("%s reached %v after the menu started, want within %v: the key did not cut the greeting",
				rec.Visits[1].Node, cut, bargeInBefore)
		}
	}
}

// checkContact compares the contact waiting in the queue with the row and
// the call's record.
func checkContact(t *testing.T, c *routing.WaitingContact, live *ivr.CallRecord, row driverRow) {
	t.Helper()
	want := routing.WaitingContact{
		Channel:  "voice",
		Queue:    row.queue,
		CallID:   live.ID,
		Caller:   row.caller,
		Dialled:  serviceShared,
		Language: "en",
		Flow:     "e2e-shared",
	}
	if row.contact != nil {
		want.Intent, want.Priority, want.Skills = row.contact.Intent, row.contact.Priority, row.contact.Skills
	}
	got := routing.WaitingContact{
		Channel: c.Channel, Queue: c.Queue, CallID: c.CallID, Caller: c.Caller, Dialled: c.Dialled,
		Language: c.Language, Flow: c.Flow, Intent: c.Intent, Priority: c.Priority, Skills: c.Skills,
	}
	if row.contact == nil {
		got.Intent, got.Priority, got.Skills = "", 0, nil
	}
	if len(got.Skills) == 0 && len(want.Skills) == 0 {
		got.Skills, want.Skills = nil, nil // [] and none are the same
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("queued contact:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	if row.contact != nil {
		for k, v := range row.contact.Vars {
			if c.Vars[k] != v {
				t.Errorf("queued contact var %s = %q, want %q; vars: %v", k, c.Vars[k], v, c.Vars)
			}
		}
	}
	if c.ID == "" || c.ID != live.ContactID {
		t.Errorf("queued contact id %q, want the record's contact id %q", c.ID, live.ContactID)
	}
}

// steps returns the visits of rec without times and with queue waits cut
// off their results.
func steps(rec *ivr.CallRecord) []step {
	out := make([]step, 0, len(rec.Visits))
	for _, v := range rec.Visits {
		r := v.Result
		if v.Kind == ivr.KindQueue {
			r, _, _ = strings.Cut(r, " after ")
		}
		out = append(out, step{v.Node, v.Kind, r})
	}
	return out
}

// shapeOf keeps what both drivers must agree on. The call id, which differs
// (sipp's Call-ID, Asterisk's channel id), is replaced by a placeholder
// where it shows.
func shapeOf(rec *ivr.CallRecord, c *routing.WaitingContact) callShape {
	s := callShape{
		Flow: rec.Flow, Dialled: rec.Dialled, Caller: rec.Caller, Language: rec.Language,
		Steps: steps(rec), Digits: rec.Digits, Outcome: rec.Outcome, Queue: rec.Queue,
		Vars: withoutID(rec.Vars, rec.ID),
	}
	if c != nil {
		cc := *c
		cc.ID, cc.CallID, cc.FlowVersion = "", "", ""
		cc.EnqueuedAt, cc.Wait, cc.WaitSeconds = time.Time{}, 0, 0
		cc.Vars = withoutID(c.Vars, rec.ID)
		s.Contact = &cc
	}
	return s
}

func withoutID(vars map[string]string, id string) map[string]string {
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		if v == id {
			v = "<call id>"
		}
		out[k] = v
	}
	return out
}

// callBy returns the record of the call from caller that driver handled,
// or nil.
func (p *ivrdProc) callBy(t testing.TB, driver, caller string) *ivr.CallRecord {
	t.Helper()
	var list struct {
		Calls []ivr.CallRecord `json:"calls"`
	}
	if code := p.getJSON(t, "/api/calls?caller="+url.QueryEscape(caller), &list); code != http.StatusOK {
		t.Fatalf("GET /api/calls?caller=%s: status %d", caller, code)
	}
	var found *ivr.CallRecord
	for i, r := range list.Calls {
		if r.Driver != driver {
			continue
		}
		if found != nil {
			t.Fatalf("two %s calls from %s: %s and %s", driver, caller, found.ID, r.ID)
		}
		found = &list.Calls[i]
	}
	return found
}

// waitCallBy polls the record of the call from caller on driver until done
// accepts it.
func (p *ivrdProc) waitCallBy(t testing.TB, driver, caller string, timeout time.Duration, done func(*ivr.CallRecord) bool) *ivr.CallRecord {
	t.Helper()
	var last *ivr.CallRecord
	if !waitFor(timeout, func() bool {
		last = p.callBy(t, driver, caller)
		return last != nil && done(last)
	}) {
		t.Fatalf("%s call from %s: record not as expected after %v; last: %s", driver, caller, timeout, dump(last))
	}
	return last
}

// queuedContact returns the contact of callID waiting in queue, or nil.
func (p *ivrdProc) queuedContact(t testing.TB, queue, callID string) *routing.WaitingContact {
	t.Helper()
	var list struct {
		Contacts []routing.WaitingContact `json:"contacts"`
	}
	if code := p.getJSON(t, "/api/queues/"+url.PathEscape(queue), &list); code != http.StatusOK {
		t.Fatalf("GET /api/queues/%s: status %d", queue, code)
	}
	for i, c := range list.Contacts {
		if c.CallID == callID {
			return &list.Contacts[i]
		}
	}
	return nil
}

// waitContact polls queue until it lists the contact of callID.
func (p *ivrdProc) waitContact(t testing.TB, queue, callID string, timeout time.Duration) *routing.WaitingContact {
	t.Helper()
	var c *routing.WaitingContact
	if !waitFor(timeout, func() bool {
		c = p.queuedContact(t, queue, callID)
		return c != nil
	}) {
		t.Fatalf("call %s never listed in queue %s within %v", callID, queue, timeout)
	}
	return c
}

// waitStasisApp waits until ivrd has registered its Stasis application
// with Asterisk: before that, the dialplan's Stasis() fails the call.
func waitStasisApp(t testing.TB, ast *asterisktest.Asterisk) {
	t.Helper()
	if !waitFor(15*time.Second, func() bool {
		req, err := http.NewRequest(http.MethodGet, ast.ARIURL+"/applications/"+url.PathEscape(ast.App), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(ast.User, ast.Password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}) {
		t.Fatalf("ivrd did not register Stasis application %q with Asterisk", ast.App)
	}
}

package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/routing"
)

// deskEnv serves the API over a fakeDesk, with users alice and bob
// (agents taking calls in the browser), pat (an agent on a phone), carol
// (an agent user who is not one of routing.agents), sam (supervisor) and
// dpo (admin).
type deskEnv struct {
	h      http.Handler
	srv    *Server
	desk   *fakeDesk
	rtc    *fakeWebRTC
	clk    *ivrtest.Clock
	tokens map[string]string
}

func newDeskEnv(t *testing.T, change ...func(*Config)) *deskEnv {
	t.Helper()
	e := &deskEnv{clk: ivrtest.NewClock(t0), rtc: &fakeWebRTC{}, tokens: map[string]string{}}
	e.desk = newFakeDesk(e.clk.Now)
	e.desk.addAgent("alice", "")
	e.desk.addAgent("bob", "")
	e.desk.addAgent("pat", "sip:pat@192.0.2.10")
	var users []User
	for _, u := range []struct {
		name string
		role Role
	}{{"alice", RoleAgent}, {"bob", RoleAgent}, {"pat", RoleAgent}, {"carol", RoleAgent}, {"sam", RoleSupervisor}, {"dpo", RoleAdmin}} {
		tok, hash := NewToken()
		e.tokens[u.name] = tok
		users = append(users, User{Name: u.name, Role: u.role, TokenSHA256: hash})
	}
	cfg := Config{Agents: e.desk, WebRTC: WebRTCFrom(e.rtc), Users: users, Logger: quiet}
	for _, c := range change {
		c(&cfg)
	}
	e.srv = New(cfg)
	// Failed authentications are limited on the test's clock.
	e.srv.fails = newFailLimiter(e.clk.Now)
	e.h = e.srv.Handler()
	return e
}

func (e *deskEnv) as(user string) []string {
	if user == "" {
		return nil
	}
	return []string{"Authorization", "Bearer " + e.tokens[user], "Content-Type", "application/json"}
}

func (e *deskEnv) do(t *testing.T, user, method, path, body string) response {
	t.Helper()
	return do(t, e.h, method, path, body, e.as(user)...)
}

// call is a contact as the IVR hands it over.
func call(id string) routing.ContactView {
	return routing.ContactView{
		WaitingContact: routing.WaitingContact{
			ID: id, Channel: routing.ChannelVoice, Queue: "facturation", CallID: id + "@192.0.2.1",
			Caller: "+33612345678", Dialled: "3900", Language: "fr", Intent: "contester_facture",
			Priority: 5, Skills: []string{"facturation"},
			Vars:       map[string]string{"numero_client": "48213", "montant": "129,90", "recording_consent": "accepted"},
			Flow:       "accueil-fr",
			EnqueuedAt: t0.Add(-83 * time.Second), WaitSeconds: 83,
		},
		Path: []string{"accueil", "consentement: accepté", "motif: touche 2", "numero_client: 48213"},
	}
}

func chat(id string) routing.ContactView {
	c := call(id)
	c.Channel, c.CallID, c.Caller = routing.ChannelChat, "", "ann@example.com"
	return c
}

// Every endpoint of the desk and the supervisors wants a token; agents see
// and act on themselves only; the supervisors' endpoints refuse agents.
func TestAgentEndpointsAuth(t *testing.T) {
	e := newDeskEnv(t)
	e.desk.offer("bob", "o-bob", call("c-bob"), 15*time.Second)
	tests := []struct {
		user, method, path, body string
		status                   int
	}{
		{"", "GET", "/api/me", "", 401},
		{"", "GET", "/api/agent", "", 401},
		{"", "POST", "/api/agent/state", `{"state":"available"}`, 401},
		{"", "POST", "/api/agent/offers/o-bob/accept", "", 401},
		{"", "POST", "/api/agent/offers/o-bob/reject", "", 401},
		{"", "POST", "/api/agent/contacts/c-bob/hangup", "", 401},
		{"", "GET", "/api/agent/events", "", 401},
		{"", "GET", "/api/agents", "", 401},
		{"", "POST", "/api/agents/alice/state", `{"state":"away"}`, 401},
		{"", "GET", "/api/board", "", 401},
		{"", "GET", "/api/stats", "", 401},
		{"", "GET", "/api/supervisor/events", "", 401},
		{"", "POST", "/api/contacts/c1/connect", "", 401},

		{"alice", "GET", "/api/agents", "", 403},
		{"alice", "POST", "/api/agents/bob/state", `{"state":"away"}`, 403},
		{"alice", "POST", "/api/agents/alice/state", `{"state":"away"}`, 403},
		{"alice", "GET", "/api/board", "", 403},
		{"alice", "GET", "/api/stats", "", 403},
		{"alice", "GET", "/api/supervisor/events", "", 403},
		// bob's offer and bob's conversation are not alice's to take.
		{"alice", "POST", "/api/agent/offers/o-bob/accept", "", 409},
		{"alice", "POST", "/api/agent/offers/o-bob/reject", "", 409},
		{"alice", "POST", "/api/agent/contacts/c-bob/hangup", "", 409},
		// carol is a user but not an agent.
		{"carol", "GET", "/api/agent", "", 404},
		{"carol", "POST", "/api/agent/state", `{"state":"available"}`, 404},
		{"carol", "GET", "/api/agent/events", "", 404},

		{"alice", "GET", "/api/me", "", 200},
		{"alice", "GET", "/api/agent", "", 200},
		{"sam", "GET", "/api/agents", "", 200},
		{"dpo", "GET", "/api/agents", "", 200},
		{"sam", "GET", "/api/board", "", 200},
		{"dpo", "GET", "/api/stats", "", 200},
		{"sam", "POST", "/api/agents/zed/state", `{"state":"away"}`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.method+" "+tt.path, func(t *testing.T) {
			e.clk.Advance(failWindow) // past the failed-authentication limit's window
			r := e.do(t, tt.user, tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			if tt.status >= 400 && m["error"] == "" {
				t.Errorf("no error message: %s", r.body)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") != challenge {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if st, _ := e.desk.Agent("bob"); st.Offer == nil || st.State != routing.AgentOffered {
		t.Errorf("bob's offer was touched: %+v", st)
	}
	// Guessing tokens is limited as on the recordings.
	e.clk.Advance(failWindow)
	codes := map[int]int{}
	for range failLimit + 3 {
		codes[do(t, e.h, "GET", "/api/agent", "", "Authorization", "Bearer guess").status]++
	}
	if codes[401] != failLimit || codes[429] != 3 {
		t.Errorf("answers to guesses %v, want %d × 401 then 429", codes, failLimit)
	}
}

func TestMe(t *testing.T) {
	e := newDeskEnv(t)
	for _, tt := range []struct {
		user, role string
		agent      bool
	}{{"alice", "agent", true}, {"carol", "agent", false}, {"sam", "supervisor", false}} {
		m := e.do(t, tt.user, "GET", "/api/me", "").json(t)
		if m["name"] != tt.user || m["role"] != tt.role {
			t.Errorf("%s: %v", tt.user, m)
		}
		a, _ := m["agent"].(map[string]any)
		if (a != nil) != tt.agent || (a != nil && a["name"] != tt.user) {
			t.Errorf("%s: agent %v, want one: %v", tt.user, a, tt.agent)
		}
	}
}

func TestAgentState(t *testing.T) {
	e := newDeskEnv(t)
	tests := []struct {
		name, user, path, body string
		status                 int
		want                   string // the error's start, or the state
	}{
		{"available", "alice", "/api/agent/state", `{"state":"available"}`, 200, "available"},
		{"away", "alice", "/api/agent/state", `{"state":"away"}`, 200, "away"},
		{"busy is the router's", "alice", "/api/agent/state", `{"state":"busy"}`, 400, `state "busy": want available, away or signed_out`},
		{"missing", "alice", "/api/agent/state", `{}`, 400, "missing state"},
		{"unknown field", "alice", "/api/agent/state", `{"state":"away","agent":"bob"}`, 400, `unknown field "agent"`},
		{"not json", "alice", "/api/agent/state", `state=away`, 400, "malformed JSON"},
		{"too large", "alice", "/api/agent/state", `{"state":"` + strings.Repeat("a", MaxStateBody) + `"}`, 413, "body larger than"},
		{"supervisor sets bob", "sam", "/api/agents/bob/state", `{"state":"available"}`, 200, "available"},
		{"admin sets bob", "dpo", "/api/agents/bob/state", `{"state":"away"}`, 200, "away"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.user, "POST", tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			if tt.status == 200 {
				if m["state"] != tt.want {
					t.Errorf("state %v, want %s", m["state"], tt.want)
				}
				return
			}
			if msg, _ := m["error"].(string); !strings.HasPrefix(msg, tt.want) {
				t.Errorf("error %q, want %q", msg, tt.want)
			}
		})
	}
	// The router's refusal is a conflict, with its reason.
	e.desk.offer("alice", "o1", chat("c1"), time.Minute)
	e.do(t, "alice", "POST", "/api/agent/offers/o1/accept", "")
	r := e.do(t, "alice", "POST", "/api/agent/state", `{"state":"signed_out"}`)
	if m := r.json(t); r.status != 409 || !strings.Contains(m["error"].(string), "in a conversation") {
		t.Errorf("signing out in a conversation: %d %s", r.status, r.body)
	}
}

func TestAcceptOffer(t *testing.T) {
	e := newDeskEnv(t)
	sdp := `{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`

	// A browser agent's call: the desk's SDP offer is answered, and the
	// leg reaches the router.
	e.desk.offer("alice", "o1", call("c1"), 15*time.Second)
	if r := e.do(t, "alice", "POST", "/api/agent/offers/o1/accept", ""); r.status != 400 ||
		!strings.Contains(r.json(t)["error"].(string), "needs its SDP offer") {
		t.Errorf("call accepted without sdp: %d %s", r.status, r.body)
	}
	r := e.do(t, "alice", "POST", "/api/agent/offers/o1/accept", sdp)
	if r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["sdp"] != "v=0 answer" || m["offer_id"] != "o1" {
		t.Errorf("answer %v", m)
	}
	if got := e.rtc.offers; len(got) != 1 || !strings.HasPrefix(got[0], "v=0\r\no=- 1 2") {
		t.Errorf("offers given to webrtc: %q", got)
	}
	if l, ok := e.desk.leg("c1").(*fakeLeg); !ok || l != e.rtc.legs[0] {
		t.Errorf("the router did not get the leg")
	}

	// A chat is accepted without a body; an SDP for it is refused.
	e.desk.offer("bob", "o2", chat("c2"), 15*time.Second)
	if r := e.do(t, "bob", "POST", "/api/agent/offers/o2/accept", sdp); r.status != 400 {
		t.Errorf("sdp for a chat: %d %s", r.status, r.body)
	}
	if r := e.do(t, "bob", "POST", "/api/agent/offers/o2/accept", ""); r.status != 200 || r.json(t)["sdp"] != nil {
		t.Errorf("chat accept: %d %s", r.status, r.body)
	}

	// A phone agent answers its phone: the desk cannot take the call.
	e.desk.offer("pat", "o3", call("c3"), 15*time.Second)
	if r := e.do(t, "pat", "POST", "/api/agent/offers/o3/accept", sdp); r.status != 400 {
		t.Errorf("phone agent with sdp: %d %s", r.status, r.body)
	}
	if r := e.do(t, "pat", "POST", "/api/agent/offers/o3/accept", ""); r.status != 409 {
		t.Errorf("phone agent on the desk: %d %s", r.status, r.body)
	}

	// An offer withdrawn meanwhile: 409, and the leg made for it is hung up.
	e.desk.offer("bob", "o4", call("c4"), 15*time.Second)
	n := len(e.rtc.legs)
	e.desk.withdraw("bob", "no answer")
	if r := e.do(t, "bob", "POST", "/api/agent/offers/o4/accept", sdp); r.status != 409 {
		t.Errorf("withdrawn offer: %d %s", r.status, r.body)
	}
	if len(e.rtc.legs) != n {
		t.Errorf("a leg was made for an offer the agent no longer has")
	}

	// The router refuses the leg after it was made: it is hung up.
	e.desk.offer("bob", "o5", call("c5"), 15*time.Second)
	refuse := &refusingDesk{fakeDesk: e.desk}
	h := New(Config{Agents: refuse, WebRTC: WebRTCFrom(e.rtc), Users: e.srv.cfg.Users, Logger: quiet}).Handler()
	if r := do(t, h, "POST", "/api/agent/offers/o5/accept", sdp, e.as("bob")...); r.status != 409 {
		t.Errorf("refused by the router: %d %s", r.status, r.body)
	}
	if reason, ok := e.rtc.legs[len(e.rtc.legs)-1].hungUp(); !ok || reason != "offer not accepted" {
		t.Errorf("refused leg not hung up (%q)", reason)
	}

	// A bad offer from the browser.
	e.rtc.err = errors.New("parse sdp: no audio section")
	if r := e.do(t, "bob", "POST", "/api/agent/offers/o5/accept", sdp); r.status != 400 ||
		!strings.Contains(r.json(t)["error"].(string), "no audio section") {
		t.Errorf("bad sdp: %d %s", r.status, r.body)
	}
	e.rtc.err = nil

	// Without WebRTC, calls cannot be taken in the browser.
	noRTC := New(Config{Agents: e.desk, Users: e.srv.cfg.Users, Logger: quiet}).Handler()
	if r := do(t, noRTC, "POST", "/api/agent/offers/o5/accept", sdp, e.as("bob")...); r.status != 503 {
		t.Errorf("no webrtc: %d %s", r.status, r.body)
	}

	for _, tt := range []struct{ name, body string }{
		{"unknown field", `{"sdp":"v=0","type":"offer"}`},
		{"sdp not a string", `{"sdp":1}`},
	} {
		if r := e.do(t, "bob", "POST", "/api/agent/offers/o5/accept", tt.body); r.status != 400 {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	big := `{"sdp":"` + strings.Repeat("a", MaxAcceptBody) + `"}`
	if r := e.do(t, "bob", "POST", "/api/agent/offers/o5/accept", big); r.status != 413 {
		t.Errorf("huge sdp: %d", r.status)
	}
}

// refusingDesk is a desk whose router refuses every accept, as when the
// caller hangs up between the answer and the accept.
type refusingDesk struct{ *fakeDesk }

func (d *refusingDesk) AcceptOffer(context.Context, string, string, ivr.Leg) error {
	return fmt.Errorf("accept: %w", routing.ErrNoOffer)
}

func TestRejectAndHangUp(t *testing.T) {
	e := newDeskEnv(t)
	e.desk.offer("alice", "o1", call("c1"), 15*time.Second)
	r := e.do(t, "alice", "POST", "/api/agent/offers/o1/reject", "")
	if r.status != 200 || r.json(t)["state"] != "rejected" {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/offers/o1/reject", ""); r.status != 409 {
		t.Errorf("reject twice: %d %s", r.status, r.body)
	}

	e.desk.offer("alice", "o2", call("c2"), 15*time.Second)
	if r := e.do(t, "alice", "POST", "/api/agent/offers/o2/accept", `{"sdp":"v=0"}`); r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if r := e.do(t, "bob", "POST", "/api/agent/contacts/c2/hangup", ""); r.status != 409 {
		t.Errorf("bob hangs up alice's call: %d %s", r.status, r.body)
	}
	r = e.do(t, "alice", "POST", "/api/agent/contacts/c2/hangup", "")
	if m := r.json(t); r.status != 200 || m["state"] != "ended" || m["contact_id"] != "c2" {
		t.Fatalf("hang up: %d %s", r.status, r.body)
	}
	if _, ok := e.rtc.legs[0].hungUp(); !ok {
		t.Error("the browser leg is still up")
	}
	if st, _ := e.desk.Agent("alice"); st.State != routing.AgentWrapUp {
		t.Errorf("alice is %s after the call, want wrap_up", st.State)
	}
}

// POST /api/contacts/{id}/connect offers a waiting contact to an agent
// now.
func TestConnectContact(t *testing.T) {
	e := newDeskEnv(t)
	e.desk.waiting["c1"] = true
	e.desk.waiting["c2"] = true
	for _, n := range []string{"alice", "bob"} {
		if err := e.desk.SetAgentState(t.Context(), n, routing.AgentAvailable); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, user, id, body string
		status               int
		agent                string
	}{
		{"no user", "", "c1", "", 401, ""},
		{"agent for another", "alice", "c1", `{"agent":"bob"}`, 403, ""},
		{"agent", "alice", "c1", "", 202, "alice"},
		{"agent naming itself", "bob", "c2", `{"agent":"bob"}`, 202, "bob"},
		{"gone", "bob", "gone", "", 409, ""},
		{"unknown contact", "alice", "no-such-contact", "", 404, ""},
		{"unknown agent", "sam", "c1", `{"agent":"zed"}`, 404, ""},
		{"agent away", "sam", "c1", `{"agent":"pat"}`, 409, ""},
		{"bad name", "sam", "c1", `{"agent":"a b"}`, 400, ""},
		{"unknown field", "sam", "c1", `{"agnet":"bob"}`, 400, ""},
		{"supervisor for an agent", "sam", "c2", `{"agent":"alice"}`, 202, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.user, "POST", "/api/contacts/"+tt.id+"/connect", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if m := r.json(t); tt.status == 202 && (m["agent"] != tt.agent || m["state"] != "offered" || m["id"] != tt.id) {
				t.Errorf("answer %v, want agent %s", m, tt.agent)
			}
		})
	}
	want := []string{"c1→alice", "c2→bob", "c2→alice"}
	if !reflect.DeepEqual(e.desk.assigned, want) {
		t.Errorf("assigned %v, want %v", e.desk.assigned, want)
	}
	off := New(Config{Users: e.srv.cfg.Users, Logger: quiet}).Handler()
	if r := do(t, off, "POST", "/api/contacts/c1/connect", "", e.as("alice")...); r.status != 503 {
		t.Errorf("without agents: %d", r.status)
	}
}

func TestAgentsBoardStats(t *testing.T) {
	e := newDeskEnv(t)
	e.desk.stats = sampleStats()
	e.desk.setBoard([]routing.QueueBoard{{Name: "facturation", LongestWaitSeconds: 83,
		Waiting: []routing.PositionedWait{{WaitingContact: call("c1").WaitingContact, Position: 1, EWTSeconds: 40}},
		Agents:  map[string]int{"available": 1}}})

	r := e.do(t, "sam", "GET", "/api/agents", "")
	var agents agentList
	if err := json.Unmarshal(r.body, &agents); err != nil || len(agents.Agents) != 3 || agents.Agents[0].Name != "alice" {
		t.Errorf("agents: %v %s", err, r.body)
	}

	r = e.do(t, "sam", "GET", "/api/board", "")
	var b routing.Board
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Queues) != 1 || b.Queues[0].Waiting[0].Position != 1 || len(b.Agents) != 3 {
		t.Errorf("board: %v %s", err, r.body)
	}

	// Stats are passed through as the router computes them.
	r = e.do(t, "dpo", "GET", "/api/stats", "")
	want, _ := json.Marshal(e.desk.stats)
	if strings.TrimSpace(string(r.body)) != string(want) {
		t.Errorf("stats\n got %s\nwant %s", r.body, want)
	}

	e.desk.err = errors.New("database is locked")
	e.srv.statsCache = statsCache{} // figures older than statsTTL
	for _, p := range []string{"/api/board", "/api/stats"} {
		if r := e.do(t, "sam", "GET", p, ""); r.status != 500 || strings.Contains(string(r.body), "locked") {
			t.Errorf("%s failing: %d %s", p, r.status, r.body)
		}
	}
	off := New(Config{Users: e.srv.cfg.Users, Logger: quiet}).Handler()
	for _, p := range []string{"/api/agents", "/api/board", "/api/stats", "/api/agent"} {
		if r := do(t, off, "GET", p, "", e.as("dpo")...); r.status != 503 {
			t.Errorf("%s without agents: %d", p, r.status)
		}
	}
}

func ptr(v float64) *float64 { return &v }

// sampleStats are the figures of a morning: facturation answered 8 of 10
// within the threshold, support had no contact in the last 15 minutes.
func sampleStats() routing.Stats {
	fact := routing.QueueStats{Queue: "facturation", Offered: 11, Answered: 9, AnsweredInThreshold: 8,
		Abandoned: 2, ShortAbandoned: 1, ServiceLevel: ptr(0.8), AbandonRate: ptr(2.0 / 11),
		ASASeconds: ptr(42.5), AverageTalkSeconds: ptr(185), Waiting: 2, LongestWaitSeconds: 83}
	supp := routing.QueueStats{Queue: "support", Offered: 4, Answered: 4, AnsweredInThreshold: 4,
		ServiceLevel: ptr(1), AbandonRate: ptr(0), ASASeconds: ptr(12), Waiting: 0}
	total := routing.QueueStats{Offered: 15, Answered: 13, AnsweredInThreshold: 12, Abandoned: 2, ShortAbandoned: 1,
		ServiceLevel: ptr(12.0 / 14), AbandonRate: ptr(2.0 / 15), ASASeconds: ptr(33.1), Waiting: 2, LongestWaitSeconds: 83}
	fact15 := routing.QueueStats{Queue: "facturation", Offered: 1, Answered: 1, AnsweredInThreshold: 0,
		ServiceLevel: ptr(0), AbandonRate: ptr(0), ASASeconds: ptr(95), Waiting: 2, LongestWaitSeconds: 83}
	supp15 := routing.QueueStats{Queue: "support"}
	total15 := fact15
	total15.Queue = ""
	return routing.Stats{
		At: t0, ThresholdSeconds: 90, ShortAbandonSeconds: 5,
		Intervals: []routing.IntervalStats{
			{Name: "today", Since: t0.Truncate(24 * time.Hour), Total: total, Queues: []routing.QueueStats{fact, supp}},
			{Name: "15m", Since: t0.Add(-15 * time.Minute), Total: total15, Queues: []routing.QueueStats{fact15, supp15}},
		},
	}
}

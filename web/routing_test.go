package web

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// The desk's endpoints over the real router: a chat posted to a queue is
// offered to the agent who made itself available, pushed on its event
// stream, taken, ended, wrapped up; the supervisors' figures count it.
func TestDeskWithRouting(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(t0)
	cfg := routing.DefaultConfig()
	cfg.Agents = []routing.AgentConfig{{
		Name: "alice", Skills: map[string]int{"facturation": 5}, Languages: []string{"fr"},
		Capacity: map[string]int{"chat": 2},
	}}
	q, err := routing.New(db, routing.WithConfig(cfg), routing.WithClock(clk), routing.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)

	e := newDeskEnv(t, func(c *Config) { c.Agents, c.Queues = q, q })
	base, _ := e.serve(t, readTimeout, writeTimeout)
	_, events := e.stream(t, base, "/api/agent/events", "alice")
	next := func(want string) routing.AgentEvent {
		t.Helper()
		for {
			ev := next(t, events, 5*time.Second)
			var got routing.AgentEvent
			if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
				t.Fatal(err)
			}
			if ev.name == want {
				return got
			}
		}
	}
	if ev := next("state"); ev.Agent.Name != "alice" || ev.Agent.State != routing.AgentSignedOut {
		t.Fatalf("first event %+v", ev)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/state", `{"state":"available"}`); r.status != 200 || r.json(t)["state"] != "available" {
		t.Fatalf("available: %d %s", r.status, r.body)
	}
	r := e.do(t, "sam", "POST", "/api/contacts", `{"channel":"chat","queue":"facturation","caller":"ann@example.com",
		"language":"fr","intent":"contester_facture","skills":["facturation"],"vars":{"numero_client":"48213"}}`)
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)

	offer := next("offer")
	if offer.Offer == nil || offer.Offer.Contact.ID != id || offer.Offer.Contact.Vars["numero_client"] != "48213" || offer.Offer.Phone {
		t.Fatalf("offer %+v", offer.Offer)
	}
	// Sam sees it offered to alice.
	var b routing.Board
	if err := json.Unmarshal(e.do(t, "sam", "GET", "/api/board", "").body, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Queues) != 1 || len(b.Queues[0].Waiting) != 1 || b.Queues[0].Waiting[0].OfferedTo != "alice" {
		t.Errorf("board %+v", b)
	}
	// A browser's SDP for a chat is refused; the chat is taken without.
	if r := e.do(t, "alice", "POST", "/api/agent/offers/"+offer.Offer.ID+"/accept", `{"sdp":"v=0"}`); r.status != 400 {
		t.Errorf("sdp for a chat: %d %s", r.status, r.body)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/offers/"+offer.Offer.ID+"/accept", ""); r.status != 200 {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if c := next("connected"); c.Contact == nil || c.Contact.ID != id || c.Contact.Agent != "alice" {
		t.Errorf("connected %+v", c.Contact)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/offers/"+offer.Offer.ID+"/accept", ""); r.status != 409 {
		t.Errorf("accept twice: %d %s", r.status, r.body)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/state", `{"state":"signed_out"}`); r.status != 409 {
		t.Errorf("sign out in a conversation: %d %s", r.status, r.body)
	}
	clk.Advance(2 * time.Minute)
	if r := e.do(t, "alice", "POST", "/api/agent/contacts/"+id+"/hangup", ""); r.status != 200 {
		t.Fatalf("hang up: %d %s", r.status, r.body)
	}
	if ended := next("ended"); ended.Reason != "agent" || ended.Agent.State != routing.AgentWrapUp {
		t.Errorf("ended %+v", ended)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/contacts/"+id+"/hangup", ""); r.status != 409 {
		t.Errorf("hang up twice: %d %s", r.status, r.body)
	}

	// The contact counts as answered in the figures, on the API and in
	// the metrics.
	var st routing.Stats
	if err := json.Unmarshal(e.do(t, "sam", "GET", "/api/stats", "").body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Intervals) == 0 || st.Intervals[0].Total.Answered != 1 {
		t.Errorf("stats %+v", st)
	}
	m, err := parseExpo(string(e.do(t, "", "GET", "/metrics", "").body))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.samples[`ivrd_answered_contacts{interval="today"}`]; v != 1 {
		t.Errorf("answered today on /metrics: %v", v)
	}
	if v := m.samples[`ivrd_agents{state="wrap_up"}`]; v != 1 {
		t.Errorf("agents wrapping up on /metrics: %v", v)
	}
	// Unknown to the router: carol has a token but is no agent.
	if r := e.do(t, "sam", "POST", "/api/agents/carol/state", `{"state":"available"}`); r.status != 404 ||
		!strings.Contains(r.json(t)["error"].(string), "unknown agent") {
		t.Errorf("carol: %d %s", r.status, r.body)
	}
}

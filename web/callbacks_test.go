package web

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// callbackEnv is a deskEnv over the real router, alice an agent taking
// calls in the browser, with the callback attempts handed to a channel.
func callbackEnv(t *testing.T) (*deskEnv, *routing.Queues, <-chan ivr.CallbackAttempt) {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := routing.DefaultConfig()
	cfg.Agents = []routing.AgentConfig{{Name: "alice"}}
	q, err := routing.New(db, routing.WithConfig(cfg), routing.WithClock(ivrtest.NewClock(t0)), routing.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	attempts := make(chan ivr.CallbackAttempt, 8)
	q.HandleCallbacks(func(ctx context.Context, a ivr.CallbackAttempt) {
		attempts <- a
		<-ctx.Done()
	})
	e := newDeskEnv(t, func(c *Config) { c.Agents, c.Queues = q, q })
	return e, q, attempts
}

func requestCallback(t *testing.T, q *routing.Queues, number string) ivr.Callback {
	t.Helper()
	cb, err := q.RequestCallback(t.Context(), ivr.CallbackRequest{
		Contact: ivr.Contact{Channel: routing.ChannelCallback, Queue: "facturation", Caller: number, Intent: "contester_facture"},
		Number:  number, MaxAttempts: 2, RetryDelay: 10 * time.Minute, Mode: ivr.CallbackAgentFirst, Node: "rappel",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func TestCallbacksAPI(t *testing.T) {
	e, q, attempts := callbackEnv(t)
	first := requestCallback(t, q, "+33612345678")
	second := requestCallback(t, q, "0698765432")
	if err := q.CallbackOffered(t.Context(), "facturation"); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		user, method, path string
		status             int
	}{
		{"", "GET", "/api/callbacks", 401},
		{"alice", "GET", "/api/callbacks", 403},
		{"alice", "DELETE", "/api/callbacks/" + first.ID, 403},
		{"sam", "GET", "/api/callbacks?state=later", 400},
		{"sam", "GET", "/api/callbacks?queue=a/b", 400},
		{"sam", "GET", "/api/callbacks?limit=0", 400},
		{"sam", "GET", "/api/callbacks?limit=501", 400},
		{"sam", "DELETE", "/api/callbacks/nope", 404},
		{"sam", "POST", "/api/callbacks", 405},
	} {
		if r := e.do(t, tt.user, tt.method, tt.path, ""); r.status != tt.status {
			t.Errorf("%s %s %s: %d %s, want %d", tt.user, tt.method, tt.path, r.status, r.body, tt.status)
		}
	}

	list := func(query string) []routing.CallbackRecord {
		t.Helper()
		r := e.do(t, "dpo", "GET", "/api/callbacks"+query, "")
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", query, r.status, r.body)
		}
		var body struct {
			Callbacks []routing.CallbackRecord `json:"callbacks"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		return body.Callbacks
	}
	got := list("?state=pending&queue=facturation")
	if len(got) != 2 || got[0].ID != second.ID || got[1].Number != "+33612345678" || got[1].Attempts == nil {
		t.Fatalf("pending %+v", got)
	}
	if got := list("?queue=autre"); len(got) != 0 {
		t.Errorf("other queue %+v", got)
	}

	// alice takes the first in the browser, as a call: her leg reaches
	// the attempt.
	if r := e.do(t, "alice", "POST", "/api/agent/state", `{"state":"available"}`); r.status != 200 {
		t.Fatalf("available: %d %s", r.status, r.body)
	}
	var at ivr.CallbackAttempt
	select {
	case at = <-attempts:
	case <-time.After(5 * time.Second):
		t.Fatal("no attempt")
	}
	if at.Callback.ID != first.ID {
		t.Fatalf("attempt of %s", at.Callback.ID)
	}
	ev := <-at.Waiting.Events()
	st, _ := q.Agent("alice")
	if ev.Kind != ivr.EventOffered || st.Offer == nil || st.Offer.Phone || st.Offer.Contact.Callback == nil ||
		st.Offer.Contact.Callback.Number != "+33612345678" {
		t.Fatalf("event %+v, alice's offer %+v", ev, st.Offer)
	}
	if r := e.do(t, "alice", "POST", "/api/agent/offers/"+ev.Offer.ID+"/accept", ""); r.status != 400 {
		t.Errorf("accept a callback without sdp: %d %s", r.status, r.body)
	}
	r := e.do(t, "alice", "POST", "/api/agent/offers/"+ev.Offer.ID+"/accept", `{"sdp":"v=0 offer"}`)
	if r.status != 200 || r.json(t)["sdp"] != "v=0 answer" {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	acc := <-at.Waiting.Events()
	if acc.Kind != ivr.EventAccepted || acc.Leg == nil || acc.Leg != ivr.Leg(e.rtc.legs[0]) {
		t.Fatalf("event %+v, want accepted with the browser's leg", acc)
	}

	// Cancelling: the pending one at once, the one in an attempt after it.
	r = e.do(t, "sam", "DELETE", "/api/callbacks/"+second.ID, "")
	if r.status != 200 || r.json(t)["state"] != ivr.CallbackCancelled || r.json(t)["cancel_reason"] != "cancelled by sam" {
		t.Errorf("cancel pending: %d %s", r.status, r.body)
	}
	if r := e.do(t, "sam", "DELETE", "/api/callbacks/"+second.ID, ""); r.status != 409 {
		t.Errorf("cancel twice: %d %s", r.status, r.body)
	}
	r = e.do(t, "dpo", "DELETE", "/api/callbacks/"+first.ID, "")
	if r.status != 202 || r.json(t)["state"] != ivr.CallbackActive {
		t.Errorf("cancel during an attempt: %d %s", r.status, r.body)
	}
	all := list("")
	if len(all) != 2 || all[1].ID != first.ID || len(all[1].Attempts) != 1 || all[1].Attempts[0].Attempt != 1 {
		t.Errorf("all %+v", all)
	}

	// The figures: on /api/stats apart from the calls', and on /metrics.
	var stats routing.Stats
	if err := json.Unmarshal(e.do(t, "sam", "GET", "/api/stats", "").body, &stats); err != nil {
		t.Fatal(err)
	}
	today := stats.Intervals[0]
	if cb := today.Total.Callbacks; cb.Requested != 2 || cb.Offered != 1 || cb.Cancelled != 1 || cb.Open != 1 || today.Total.Offered != 0 {
		t.Errorf("stats %+v", today.Total)
	}
	e.srv.statsCache = statsCache{} // the figures changed within the cache's second
	m, err := parseExpo(string(e.do(t, "", "GET", "/metrics", "").body))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		`ivrd_requested_callbacks{interval="today"}`:                           2,
		`ivrd_offered_callbacks{interval="15m"}`:                               1,
		`ivrd_queue_cancelled_callbacks{queue="facturation",interval="today"}`: 1,
		`ivrd_open_callbacks`:                                                  1,
		`ivrd_queue_open_callbacks{queue="facturation"}`:                       1,
		`ivrd_offered_contacts{interval="today"}`:                              0,
	} {
		if v, ok := m.samples[name]; !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
}

// Without the router, the callbacks endpoints answer 503.
func TestCallbacksNotConfigured(t *testing.T) {
	e := newDeskEnv(t)
	if r := e.do(t, "sam", "GET", "/api/callbacks", ""); r.status != 503 {
		t.Errorf("list: %d %s", r.status, r.body)
	}
	if r := e.do(t, "sam", "DELETE", "/api/callbacks/x", ""); r.status != 503 {
		t.Errorf("cancel: %d %s", r.status, r.body)
	}
}

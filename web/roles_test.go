package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
)

// Every endpoint that shows or changes personal data wants a token and a
// role: the call log, the queues and their contacts, posting a contact,
// the flows' status. Supervisors and admins read everything; an agent
// reads the calls it took and the queues it serves; an integration posts
// contacts and reads the queues' summary only. Health, the metrics
// (aggregates) and the pages stay open.
func TestPersonalDataNeedsARole(t *testing.T) {
	e := newEnv(t)
	e.seedCalls(t) // c0 taken by alice, c3 by bob
	ctx := t.Context()
	w, err := e.queues.Enqueue(ctx, ivr.Contact{Queue: "support", CallID: "c9", Caller: "+339"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Leave(context.Background(), "abandoned")
	chat := `{"channel":"chat","queue":"sales","caller":"ann@example.com"}`

	tests := []struct {
		user, method, path, body string
		status                   int
		calls                    string // for a call list: the ids, in order
	}{
		{"", "GET", "/api/calls", "", 401, ""},
		{"", "GET", "/api/calls/c0", "", 401, ""},
		{"", "GET", "/api/queues", "", 401, ""},
		{"", "GET", "/api/queues/support", "", 401, ""},
		{"", "POST", "/api/contacts", chat, 401, ""},
		{"", "GET", "/api/flows", "", 401, ""},
		{"", "GET", "/healthz", "", 200, ""},

		{"sam", "GET", "/api/calls", "", 200, "c3 c2 c1 c0"},
		{"dpo", "GET", "/api/calls?outcome=connected", "", 200, "c3 c0"},
		{"sam", "GET", "/api/calls/c2", "", 200, ""},
		{"sam", "GET", "/api/queues", "", 200, ""},
		{"dpo", "GET", "/api/queues/support", "", 200, ""},
		{"sam", "POST", "/api/contacts", chat, 201, ""},
		{"dpo", "GET", "/api/flows", "", 200, ""},

		// Agents: the calls they took, whatever the query asks.
		{"alice", "GET", "/api/calls", "", 200, "c0"},
		{"alice", "GET", "/api/calls?caller=%2B332", "", 200, ""},
		{"bob", "GET", "/api/calls", "", 200, "c3"},
		{"carol", "GET", "/api/calls", "", 200, ""},
		{"alice", "GET", "/api/calls/c0", "", 200, ""},
		{"alice", "GET", "/api/calls/c3", "", 403, ""},
		{"alice", "GET", "/api/calls/c2", "", 403, ""},
		{"alice", "GET", "/api/calls/nope", "", 403, ""}, // as for a known call
		// ... the queues they serve.
		{"alice", "GET", "/api/queues", "", 200, ""},
		{"alice", "GET", "/api/queues/sales", "", 200, ""},
		{"alice", "GET", "/api/queues/support", "", 403, ""},
		{"bob", "GET", "/api/queues/support", "", 200, ""},
		{"carol", "GET", "/api/queues/sales", "", 403, ""}, // none of routing.agents
		{"alice", "POST", "/api/contacts", chat, 403, ""},
		{"alice", "GET", "/api/flows", "", 403, ""},

		// An integration posts contacts and reads the summary.
		{"webchat", "POST", "/api/contacts", chat, 201, ""},
		{"webchat", "GET", "/api/queues", "", 200, ""},
		{"webchat", "GET", "/api/me", "", 200, ""},
		{"webchat", "GET", "/api/calls", "", 403, ""},
		{"webchat", "GET", "/api/calls/c0", "", 403, ""},
		{"webchat", "GET", "/api/queues/sales", "", 403, ""},
		{"webchat", "GET", "/api/flows", "", 403, ""},
		{"webchat", "GET", "/api/agent", "", 403, ""},
		{"webchat", "POST", "/api/contacts/" + w.ContactID() + "/connect", "", 403, ""},
		{"webchat", "GET", "/api/board", "", 403, ""},
		{"webchat", "GET", "/api/callbacks", "", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.method+" "+tt.path, func(t *testing.T) {
			e.clk.Advance(failWindow) // past the failed-authentication limit's window
			var hdr []string
			if tt.body != "" {
				hdr = []string{"Content-Type", "application/json"}
			}
			r := e.do(t, tt.user, tt.method, tt.path, tt.body, hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			switch {
			case tt.status == 401:
				if r.header.Get("WWW-Authenticate") != challenge {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				fallthrough
			case tt.status >= 400:
				if msg, _ := m["error"].(string); msg == "" {
					t.Errorf("no error message: %s", r.body)
				}
				// A refusal names nobody: no caller, no call of another.
				if strings.Contains(string(r.body), "+33") {
					t.Errorf("refusal leaks a number: %s", r.body)
				}
			case tt.method == "GET" && strings.HasPrefix(tt.path, "/api/calls?") || tt.path == "/api/calls":
				if got := strings.Join(ids(t, m), " "); got != tt.calls {
					t.Errorf("calls %q, want %q", got, tt.calls)
				}
			}
		})
	}
}

// The metrics are aggregates: no token, and no caller, contact, call or
// agent named.
func TestMetricsNameNobody(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	w, err := e.queues.Enqueue(ctx, ivr.Contact{Queue: "support", CallID: "call-secret@192.0.2.1", Caller: "+33612345678",
		Intent: "contester_facture", Vars: map[string]string{"numero_client": "48213"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Leave(context.Background(), "abandoned")
	r := e.do(t, "", "GET", "/metrics", "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	body := string(r.body)
	if !strings.Contains(body, `ivrd_queue_waiting_contacts{queue="support"} 1`) {
		t.Errorf("no waiting contact counted:\n%s", body)
	}
	for _, secret := range []string{"+33612345678", "call-secret", w.ContactID(), "48213", "contester_facture", "alice", "bob"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics names %q:\n%s", secret, body)
		}
	}
}

// An integration is no person: it reaches no recording, and its attempts
// are audited as denied.
func TestIntegrationReachesNoRecording(t *testing.T) {
	e := newRecEnv(t, nil)
	id := e.record(t, "call-1", "alice", 5)
	for _, tt := range []struct{ path, action string }{
		{"/api/recordings", ActionSearch},
		{"/api/recordings/" + id, ActionMetadata},
		{"/api/recordings/" + id + "/audio", ActionListen},
		{"/api/audit", ActionAuditLog},
	} {
		r := do(t, e.h, "GET", tt.path, "", e.as("webchat")...)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403: %s", tt.path, r.status, r.body)
		}
		want := ""
		if strings.Contains(tt.path, id) {
			want = id
		}
		wantAudit(t, e.lastAudit(t), "webchat", tt.action, OutcomeDenied, want)
	}
}

// A user of role integration is refused by the desk and the supervisors'
// endpoints even with the name of an agent.
func TestIntegrationIsNoAgent(t *testing.T) {
	integrationToken, hash := NewToken()
	e := newDeskEnv(t, func(c *Config) {
		c.Users = append(c.Users, User{Name: "alice-bot", Role: RoleIntegration, TokenSHA256: hash})
	})
	e.desk.addAgent("alice-bot", "")
	for _, p := range []string{"/api/agent", "/api/agent/events", "/api/agents", "/api/board", "/api/stats"} {
		r := do(t, e.h, "GET", p, "", "Authorization", "Bearer "+integrationToken)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403: %s", p, r.status, r.body)
		}
	}
	r := do(t, e.h, "GET", "/api/me", "", "Authorization", "Bearer "+integrationToken)
	var me struct{ Name, Role string }
	if err := json.Unmarshal(r.body, &me); err != nil || r.status != 200 || me.Role != "integration" {
		t.Errorf("/api/me: %d %s", r.status, r.body)
	}
}

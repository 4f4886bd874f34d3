package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/routing"
)

// acceptAll is a queue that takes every contact without storing it.
type acceptAll struct{}

func (acceptAll) List(context.Context, string) ([]routing.WaitingContact, error) { return nil, nil }
func (acceptAll) Summary(context.Context) ([]routing.QueueSummary, error)        { return nil, nil }
func (acceptAll) Post(_ context.Context, c ivr.Contact) (string, error) {
	if err := routing.Validate(&c); err != nil {
		return "", err
	}
	return "id", nil
}

// FuzzPostContact feeds arbitrary bodies to POST /api/contacts: the API must
// never panic, never answer 5xx, and always answer a JSON object.
func FuzzPostContact(f *testing.F) {
	for _, seed := range []string{
		`{"channel":"chat","queue":"sales","caller":"a@b","priority":3,"skills":["en"],"vars":{"k":"v"}}`,
		`{"channel":"email","queue":"x","unknown":1}`,
		`{"queue":"x"}`,
		`{"channel":"voice","queue":"a/b","priority":-1}`,
		`{"channel":"chat","queue":"a","priority":1e99}`,
		`{"channel":"chat","queue":"a","vars":{"":""}}`,
		`{"channel":"chat","queue":"a"}{}`,
		`[]`, `null`, `""`, `{`, `{"channel":"\ud800"}`, "\xff\xfe",
	} {
		f.Add(seed)
	}
	token, hash := NewToken()
	users := []User{{Name: "webchat", Role: RoleIntegration, TokenSHA256: hash}}
	h := New(Config{Queues: acceptAll{}, Users: users, Logger: quiet}).Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/contacts", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != 201 && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q is not a JSON object: %v", rec.Body, err)
		}
		if rec.Code == 201 && m["id"] != "id" {
			t.Fatalf("201 without id: %s", rec.Body)
		}
		if rec.Code != 201 && m["error"] == "" {
			t.Fatalf("%d without error: %s", rec.Code, rec.Body)
		}
	})
}

// spyRecordings answers every recording as unknown, and fails the test
// when a method that takes an id is given anything but a recording id.
type spyRecordings struct {
	t      *testing.T
	audits int
}

func (s *spyRecordings) id(id string) error {
	if !ValidRecordingID(id) {
		s.t.Fatalf("the store was asked for %q", id)
	}
	return recordings.ErrNotFound
}
func (s *spyRecordings) Search(context.Context, recordings.Filter) ([]recordings.Recording, error) {
	return nil, nil
}
func (s *spyRecordings) Get(_ context.Context, id string) (*recordings.Recording, error) {
	return nil, s.id(id)
}
func (s *spyRecordings) Open(_ context.Context, id string) (*audiofile.Reader, *recordings.Recording, error) {
	return nil, nil, s.id(id)
}
func (s *spyRecordings) AgentMayAccess(_ context.Context, _, id string) (bool, error) {
	return false, s.id(id)
}
func (s *spyRecordings) Consents(context.Context, string) ([]ivr.Consent, error) { return nil, nil }
func (s *spyRecordings) Hold(_ context.Context, id, _, _ string) error           { return s.id(id) }
func (s *spyRecordings) Release(_ context.Context, id, _ string) error           { return s.id(id) }
func (s *spyRecordings) Audit(context.Context, recordings.AuditEntry) error {
	s.audits++
	return nil
}
func (s *spyRecordings) AuditLog(context.Context, recordings.AuditFilter) ([]recordings.AuditEntry, error) {
	return nil, nil
}
func (s *spyRecordings) PurgeLog(context.Context, int) ([]recordings.PurgeEntry, error) {
	return nil, nil
}

// FuzzRecordingPath requests arbitrary paths under /api/recordings as an
// admin: only well-formed ids may reach the store, every request is
// audited exactly once, and the answer is a JSON error.
func FuzzRecordingPath(f *testing.F) {
	for _, seed := range []string{
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b", "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b/audio",
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b/hold", "../etc/passwd", "%2e%2e%2fetc%2fpasswd",
		"..%2F..%2Fsecret/audio", "./x", "a//b", "%00", "x/../../y", "", "?download=1",
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b/audio?download=yes",
	} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			f.Add(m, seed)
		}
	}
	tok, hash := NewToken()
	f.Fuzz(func(t *testing.T, method, rest string) {
		switch method {
		case "GET", "PUT", "DELETE", "POST", "HEAD":
		default:
			return
		}
		u, err := url.ParseRequestURI("/api/recordings/" + rest)
		if err != nil {
			return // no client can send it
		}
		spy := &spyRecordings{t: t}
		h := New(Config{
			Recordings: spy, Logger: quiet,
			Users: []User{{Name: "dpo", Role: RoleAdmin, TokenSHA256: hash}},
		}).Handler()
		req := httptest.NewRequest(method, "/", strings.NewReader(`{"reason":"x"}`))
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if spy.audits != 1 {
			t.Fatalf("%s %s: %d audit rows, want 1", method, u, spy.audits)
		}
		if rec.Code != 200 && rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("%s %s: status %d", method, u, rec.Code)
		}
		if method == "HEAD" {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object", method, u, rec.Body)
		}
	})
}

// FuzzAuthorization: whatever the Authorization header, a user is found
// only with its exact token.
func FuzzAuthorization(f *testing.F) {
	const token = "alice-token"
	for _, seed := range []string{
		"Bearer " + token, "bearer  " + token, "Basic YWxpY2U6YWxpY2UtdG9rZW4=", "Basic YWxpY2U6",
		"Basic !!!", "Bearer", "", "Bearer " + token + "\x00", "Basic " + strings.Repeat("A", 1000),
	} {
		f.Add(seed)
	}
	a, err := newAuthenticator([]User{{Name: "alice", Role: RoleAgent, TokenSHA256: HashToken(token)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", header)
		u := a.authenticate(req)
		if u == nil {
			return
		}
		tok, name, basic := credentials(req)
		if tok != token || (basic && name != "alice") || u.Name != "alice" {
			t.Fatalf("header %q authenticated %s", header, u.Name)
		}
	})
}

// FuzzDeskBodies feeds arbitrary bodies to the agent endpoints that take
// one: never a panic, never 5xx, always a JSON object, and the router
// reached only with a valid state.
func FuzzDeskBodies(f *testing.F) {
	for _, seed := range []struct {
		path, body string
	}{
		{"/api/agent/state", `{"state":"available"}`},
		{"/api/agent/state", `{"state":"busy"}`},
		{"/api/agents/bob/state", `{"state":"away","x":1}`},
		{"/api/agent/offers/o1/accept", `{"sdp":"v=0\r\n"}`},
		{"/api/agent/offers/o1/accept", `{"sdp":1}`},
		{"/api/contacts/c1/connect", `{"agent":"bob"}`},
		{"/api/contacts/c1/connect", `{"agent":"a\u0000b"}`},
		{"/api/agent/state", `{"state":"available"}{}`},
		{"/api/agent/state", "\xff"},
	} {
		f.Add(seed.path, seed.body)
	}
	paths := []string{"/api/agent/state", "/api/agents/bob/state", "/api/agent/offers/o1/accept", "/api/contacts/c1/connect"}
	f.Fuzz(func(t *testing.T, path, body string) {
		if !slices.Contains(paths, path) {
			path = paths[len(path)%len(paths)]
		}
		e := newDeskEnv(t)
		e.desk.offer("alice", "o1", chat("c1"), time.Minute)
		user := "sam"
		if strings.HasPrefix(path, "/api/agent/") {
			user = "alice"
		}
		r := e.do(t, user, "POST", path, body)
		if r.status >= 500 {
			t.Fatalf("status %d for %s %q: %s", r.status, path, body, r.body)
		}
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("body %q is not a JSON object: %v", r.body, err)
		}
		if r.status >= 400 && m["error"] == "" {
			t.Fatalf("%d without error: %s", r.status, r.body)
		}
		if strings.HasSuffix(path, "/state") && r.status == 200 {
			switch m["state"] {
			case "available", "away", "signed_out":
			default:
				t.Fatalf("state set to %v", m["state"])
			}
		}
	})
}

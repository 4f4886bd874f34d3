package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

type flowStatus struct{ v any }

func (f flowStatus) Status() any { return f.v }

type env struct {
	h      http.Handler
	srv    *Server
	calls  *store.CallLog
	queues *routing.Queues
	clk    *ivrtest.Clock
	tokens map[string]string
}

// testUsers are the users of newEnv: sam (supervisor), dpo (admin), alice
// (an agent serving the queue sales only), bob (an agent serving every
// queue), carol (of role agent, but none of routing.agents) and webchat
// (an integration posting chats).
func testUsers(t *testing.T) ([]User, map[string]string) {
	t.Helper()
	var users []User
	tokens := map[string]string{}
	for _, u := range []struct {
		name string
		role Role
	}{
		{"sam", RoleSupervisor}, {"dpo", RoleAdmin}, {"alice", RoleAgent}, {"bob", RoleAgent},
		{"carol", RoleAgent}, {"webchat", RoleIntegration},
	} {
		tok, hash := NewToken()
		tokens[u.name] = tok
		users = append(users, User{Name: u.name, Role: u.role, TokenSHA256: hash})
	}
	return users, tokens
}

// bearer is the Authorization header of a token, for do.
func bearer(token string) []string {
	return []string{"Authorization", "Bearer " + token}
}

// newEnv serves the API over a real database in a temporary directory.
func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(t0)
	rcfg := routing.DefaultConfig()
	rcfg.Agents = []routing.AgentConfig{
		{Name: "alice", Queues: []string{"sales"}},
		{Name: "bob"},
	}
	queues, err := routing.New(db, routing.WithConfig(rcfg), routing.WithClock(clk), routing.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(queues.Close)
	users, tokens := testUsers(t)
	e := &env{calls: store.NewCallLog(db), queues: queues, clk: clk, tokens: tokens}
	e.srv = New(Config{
		Calls:  e.calls,
		Queues: e.queues,
		Agents: e.queues,
		Users:  users,
		Flows: flowStatus{map[string]any{
			"ok": false, "loaded_at": "2025-06-02T08:59:00Z",
			"diagnostics": []string{"flows/main.yaml:12:5: unknown node \"mneu\""},
		}},
		Health: func() any { return map[string]any{"status": "ok", "calls": 3} },
		Logger: quiet,
	})
	// Failed authentications are limited on the test's clock.
	e.srv.fails = newFailLimiter(clk.Now)
	e.h = e.srv.Handler()
	return e
}

// do sends a request as user ("" sends no token).
func (e *env) do(t *testing.T, user, method, target, body string, hdr ...string) response {
	t.Helper()
	if user != "" {
		hdr = append(hdr, bearer(e.tokens[user])...)
	}
	return do(t, e.h, method, target, body, hdr...)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value, failing the test when the
// body is not JSON: every answer of the API must be.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	return m
}

func do(t *testing.T, h http.Handler, method, target, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (e *env) seedCalls(t *testing.T) {
	t.Helper()
	for i, c := range []struct {
		id, caller string
		outcome    ivr.Outcome
		agent      string
	}{
		{"c0", "+331", ivr.OutcomeConnected, "alice"},
		{"c1", "+332", ivr.OutcomeHungUpInIVR, ""},
		{"c2", "+331", ivr.OutcomeAbandoned, ""},
		{"c3", "+332", ivr.OutcomeConnected, "bob"},
	} {
		start := t0.Add(time.Duration(i) * time.Hour)
		end := start.Add(time.Minute)
		r := &ivr.CallRecord{
			ID: c.id, Driver: "sip", Caller: c.caller, Dialled: "3000", Flow: "main",
			StartedAt: start, EndedAt: &end, Outcome: c.outcome, Digits: "1", Agent: c.agent,
			Visits: []ivr.Visit{{Node: "menu", Kind: ivr.KindMenu, At: start, Result: "key 1"}},
		}
		if err := e.calls.SaveCall(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(t *testing.T, m map[string]any) []string {
	t.Helper()
	calls, ok := m["calls"].([]any)
	if !ok {
		t.Fatalf("no calls array in %v", m)
	}
	out := []string{}
	for _, c := range calls {
		out = append(out, c.(map[string]any)["id"].(string))
	}
	return out
}

func TestListCalls(t *testing.T) {
	e := newEnv(t)
	e.seedCalls(t)
	tests := []struct {
		query  string
		status int
		want   string // ids, or the start of the error
	}{
		{"", 200, "c3 c2 c1 c0"},
		{"?caller=%2B331", 200, "c2 c0"},
		{"?outcome=connected", 200, "c3 c0"},
		{"?since=2025-06-02T10:00:00Z", 200, "c3 c2 c1"},
		{"?until=2025-06-02T11:00:00%2B00:00", 200, "c1 c0"},
		{"?since=2025-06-02T11:00:00%2B02:00", 200, "c3 c2 c1 c0"},
		{"?since=2025-06-03", 200, ""},
		{"?limit=2", 200, "c3 c2"},
		{"?limit=2&offset=1", 200, "c2 c1"},
		{"?limit=500", 200, "c3 c2 c1 c0"},
		{"?limit=0", 400, "limit"},
		{"?limit=501", 400, "limit"},
		{"?limit=ten", 400, "limit"},
		{"?offset=-1", 400, "offset"},
		{"?since=yesterday", 400, "since"},
		{"?until=2025-13-01", 400, "until"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.do(t, "sam", "GET", "/api/calls"+tt.query, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			if tt.status != 200 {
				if msg, _ := m["error"].(string); !strings.HasPrefix(msg, tt.want) {
					t.Errorf("error %q, want it to start with %q", msg, tt.want)
				}
				return
			}
			if got := strings.Join(ids(t, m), " "); got != tt.want {
				t.Errorf("calls %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGetCall(t *testing.T) {
	e := newEnv(t)
	e.seedCalls(t)
	r := e.do(t, "sam", "GET", "/api/calls/c2", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got ivr.CallRecord
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "c2" || got.Outcome != ivr.OutcomeAbandoned || len(got.Visits) != 1 || got.Visits[0].Result != "key 1" {
		t.Errorf("got %+v", got)
	}

	r = e.do(t, "sam", "GET", "/api/calls/nope", "")
	if r.status != 404 {
		t.Fatalf("unknown call: status %d, want 404", r.status)
	}
	if msg := r.json(t)["error"]; msg != `call "nope" not found` {
		t.Errorf("error %q", msg)
	}
}

func TestQueues(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	w, err := e.queues.Enqueue(ctx, ivr.Contact{Queue: "sales", CallID: "c1", Caller: "+331", Intent: "billing", Priority: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Leave(context.Background(), "abandoned")
	e.clk.Advance(30 * time.Second)
	r := e.do(t, "webchat", "POST", "/api/contacts",
		`{"channel":"chat","queue":"sales","caller":"ann@example.com","language":"en","intent":"order","priority":5,"skills":["en"],"vars":{"order":"A12"}}`,
		"Content-Type", "application/json")
	if r.status != 201 {
		t.Fatalf("POST status %d: %s", r.status, r.body)
	}
	chatID, _ := r.json(t)["id"].(string)
	if chatID == "" {
		t.Fatalf("no id in %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != "/api/queues/sales" {
		t.Errorf("Location %q", loc)
	}
	e.clk.Advance(15 * time.Second)

	r = e.do(t, "sam", "GET", "/api/queues/sales", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var list queueContacts
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Queue != "sales" || len(list.Contacts) != 2 {
		t.Fatalf("got %s", r.body)
	}
	chat, call := list.Contacts[0], list.Contacts[1] // priority 5 first
	if chat.ID != chatID || chat.Channel != "chat" || chat.WaitSeconds != 15 || chat.Vars["order"] != "A12" || chat.Skills[0] != "en" {
		t.Errorf("chat contact %+v", chat)
	}
	if call.ID != w.ContactID() || call.CallID != "c1" || call.Intent != "billing" || call.WaitSeconds != 45 {
		t.Errorf("call contact %+v", call)
	}
	if !bytes.Contains(r.body, []byte(`"wait_seconds":15`)) {
		t.Errorf("wait_seconds missing from %s", r.body)
	}

	r = e.do(t, "sam", "GET", "/api/queues/empty", "")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"contacts":[]`)) {
		t.Errorf("empty queue: %d %s", r.status, r.body)
	}
	r = e.do(t, "sam", "GET", "/api/queues/bad%20name", "")
	if r.status != 400 {
		t.Errorf("bad queue name: status %d, want 400", r.status)
	}
	r.json(t)

	r = e.do(t, "sam", "GET", "/api/queues", "")
	if r.status != 200 {
		t.Fatalf("summary status %d: %s", r.status, r.body)
	}
	var sum queueList
	if err := json.Unmarshal(r.body, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Queues) != 1 || sum.Queues[0].Name != "sales" || sum.Queues[0].Waiting != 2 ||
		sum.Queues[0].OldestWaitSeconds != 45 || sum.Queues[0].Channels["chat"] != 1 {
		t.Errorf("summary %s", r.body)
	}
}

func TestPostContact(t *testing.T) {
	e := newEnv(t)
	json := []string{"Content-Type", "application/json"}
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		want   string // start of the error message
	}{
		{"minimal", `{"channel":"email","queue":"support"}`, nil, 201, ""},
		{"with charset", `{"channel":"chat","queue":"support"}`, []string{"Content-Type", "application/json; charset=utf-8"}, 201, ""},
		{"a call", `{"channel":"voice","queue":"support"}`, json, 400, "post contact: invalid contact: a voice call joins a queue through its flow"},
		{"unknown field", `{"channel":"chat","queue":"a","colour":"red"}`, json, 400, `unknown field "colour"`},
		{"missing queue", `{"channel":"chat"}`, json, 400, "missing queue"},
		{"empty queue", `{"channel":"chat","queue":""}`, json, 400, "missing queue"},
		{"missing channel", `{"queue":"a"}`, json, 400, "missing channel"},
		{"unknown channel", `{"channel":"fax","queue":"a"}`, json, 400, "invalid contact: channel"},
		{"bad queue name", `{"channel":"chat","queue":"a/b"}`, json, 400, "invalid contact: queue"},
		{"priority too high", `{"channel":"chat","queue":"a","priority":1000}`, json, 400, "invalid contact: priority"},
		{"priority not a number", `{"channel":"chat","queue":"a","priority":"high"}`, json, 400, `field "priority"`},
		{"fractional priority", `{"channel":"chat","queue":"a","priority":1.5}`, json, 400, `field "priority"`},
		{"skills not a list", `{"channel":"chat","queue":"a","skills":"en"}`, json, 400, `field "skills"`},
		{"vars not strings", `{"channel":"chat","queue":"a","vars":{"n":1}}`, json, 400, `field "vars`},
		{"array body", `[1,2]`, json, 400, "body must be a JSON object"},
		{"empty body", ``, json, 400, "empty body"},
		{"truncated", `{"channel":"chat"`, json, 400, "malformed JSON"},
		{"syntax error", `{"channel":chat}`, json, 400, "malformed JSON at byte"},
		{"two objects", `{"channel":"chat","queue":"a"}{"channel":"chat","queue":"b"}`, json, 400, "body must hold a single JSON object"},
		{"trailing garbage", `{"channel":"chat","queue":"a"} x`, json, 400, "body must hold a single JSON object"},
		{"too large", `{"channel":"chat","queue":"a","intent":"` + strings.Repeat("x", MaxContactBody) + `"}`, json, 413, "body larger than"},
		{"not json", `channel=chat&queue=a`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "content type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "webchat", "POST", "/api/contacts", tt.body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			if tt.status == 201 {
				if id, _ := m["id"].(string); id == "" {
					t.Errorf("no id in %s", r.body)
				}
				return
			}
			if msg, _ := m["error"].(string); !strings.HasPrefix(msg, tt.want) {
				t.Errorf("error %q, want it to start with %q", msg, tt.want)
			}
		})
	}
	list, err := e.queues.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("%d contacts waiting, want the 2 valid posts", len(list))
	}
}

func TestFlowsAndHealth(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "sam", "GET", "/api/flows", "")
	if r.status != 200 {
		t.Fatalf("flows status %d", r.status)
	}
	if m := r.json(t); m["ok"] != false || !strings.Contains(string(r.body), `flows/main.yaml:12:5`) {
		t.Errorf("flows body %s", r.body)
	}
	// Health needs no token.
	r = e.do(t, "", "GET", "/healthz", "")
	if r.status != 200 {
		t.Fatalf("healthz status %d", r.status)
	}
	if m := r.json(t); m["status"] != "ok" || m["calls"] != 3.0 {
		t.Errorf("healthz body %s", r.body)
	}
}

func TestNotConfigured(t *testing.T) {
	users, tokens := testUsers(t)
	h := New(Config{Users: users, Logger: quiet}).Handler()
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/api/calls", ""},
		{"GET", "/api/calls/x", ""},
		{"GET", "/api/queues", ""},
		{"GET", "/api/queues/sales", ""},
		{"POST", "/api/contacts", `{"channel":"chat","queue":"a"}`},
		{"GET", "/api/flows", ""},
	} {
		r := do(t, h, tt.method, tt.path, tt.body, bearer(tokens["dpo"])...)
		if r.status != 503 {
			t.Errorf("%s %s: status %d, want 503", tt.method, tt.path, r.status)
		}
		r.json(t)
	}
	r := do(t, h, "GET", "/healthz", "")
	if r.status != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("default healthz: %d %s", r.status, r.body)
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/api", 404, ""},
		{"DELETE", "/api/calls", 405, "GET, HEAD"},
		{"GET", "/api/contacts", 405, "POST"},
		{"PUT", "/api/queues/sales", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		r := do(t, e.h, tt.method, tt.path, "")
		if r.status != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, r.status, tt.status)
		}
		if msg, _ := r.json(t)["error"].(string); msg == "" {
			t.Errorf("%s %s: no error message in %s", tt.method, tt.path, r.body)
		}
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

// failing is a store whose every call fails, or panics.
type failing struct{ panics bool }

var errDisk = errors.New("disk I/O error in /var/lib/ivrd/ivrd.db")

func (f failing) fail() error {
	if f.panics {
		panic("boom")
	}
	return errDisk
}
func (f failing) ListCalls(context.Context, store.CallFilter) ([]ivr.CallRecord, error) {
	return nil, f.fail()
}
func (f failing) GetCall(context.Context, string) (*ivr.CallRecord, error) { return nil, f.fail() }
func (f failing) List(context.Context, string) ([]routing.WaitingContact, error) {
	return nil, f.fail()
}
func (f failing) Summary(context.Context) ([]routing.QueueSummary, error) { return nil, f.fail() }
func (f failing) Post(context.Context, ivr.Contact) (string, error)       { return "", f.fail() }
func (f failing) Status() any                                             { return f.fail() }

func TestInternalErrorsAreHidden(t *testing.T) {
	users, tokens := testUsers(t)
	for _, panics := range []bool{false, true} {
		var logs bytes.Buffer
		f := failing{panics: panics}
		h := New(Config{
			Calls: f, Queues: f, Flows: f, Users: users,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		}).Handler()
		for _, tt := range []struct{ method, path, body string }{
			{"GET", "/api/calls", ""},
			{"GET", "/api/calls/x", ""},
			{"GET", "/api/queues", ""},
			{"GET", "/api/queues/sales", ""},
			{"POST", "/api/contacts", `{"channel":"chat","queue":"a"}`},
		} {
			r := do(t, h, tt.method, tt.path, tt.body, bearer(tokens["dpo"])...)
			if r.status != 500 {
				t.Errorf("panics=%v %s %s: status %d, want 500", panics, tt.method, tt.path, r.status)
			}
			if msg := r.json(t)["error"]; msg != "internal error" {
				t.Errorf("panics=%v %s %s: error %q leaks details", panics, tt.method, tt.path, msg)
			}
		}
		if !strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("panics=%v: failures not logged:\n%s", panics, logs.String())
		}
	}
}

func TestRequestLog(t *testing.T) {
	var logs bytes.Buffer
	h := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).Handler()
	do(t, h, "GET", "/api/calls?limit=1", "")
	var rec map[string]any
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
		t.Fatalf("log line: %v\n%s", err, logs.String())
	}
	if rec["msg"] != "http request" || rec["method"] != "GET" || rec["path"] != "/api/calls" || rec["status"] != 401.0 {
		t.Errorf("log record %v", rec)
	}
	logs.Reset()
	do(t, h, "GET", "/healthz", "")
	if logs.Len() != 0 {
		t.Errorf("health check logged at info: %s", logs.String())
	}
}

func TestServeShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := New(Config{Logger: quiet})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after graceful shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := client.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// A connection that never sent a request (a browser opens some ahead of
// need) does not hold the shutdown.
func TestServeShutsDownFreshConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- New(Config{Logger: quiet}).Serve(ctx, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // accepted
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("shutdown took %v", d)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Serve held by a connection without a request")
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("the fresh connection is still open")
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	s := New(Config{Addr: "256.0.0.1:http", Logger: quiet})
	err := s.ListenAndServe(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "listen http 256.0.0.1:http: ") {
		t.Errorf("ListenAndServe = %v", err)
	}
}

func TestListenAndServeEmptyAddress(t *testing.T) {
	if err := New(Config{Logger: quiet}).ListenAndServe(t.Context()); err == nil {
		t.Error("ListenAndServe with no address succeeded")
	}
}

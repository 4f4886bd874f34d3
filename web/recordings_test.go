package web

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/store"
)

// recEnv serves the API over a real recordings service, on a
// store in a temporary folder, with one user of each role and two agents.
type recEnv struct {
	h      http.Handler
	svc    *recordings.Service
	clk    *ivrtest.Clock
	db     *store.DB
	dir    string            // recordings folder
	tokens map[string]string // user → token
}

// failingAudit is the real service whose audit cannot be written.
type failingAudit struct{ *recordings.Service }

func (failingAudit) Audit(context.Context, recordings.AuditEntry) error {
	return errors.New("disk full")
}

func newRecEnv(t *testing.T, key []byte, wrap ...func(*recordings.Service) RecordingStore) *recEnv {
	t.Helper()
	root := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(root, "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(t0)
	svc, err := recordings.New(db, recordings.Config{
		Dir: filepath.Join(root, "recordings"), Key: key, Now: clk.Now, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &recEnv{
		svc:    svc,
		clk:    clk,
		db:     db,
		dir:    svc.Dir(),
		tokens: map[string]string{},
	}
	var users []User
	for _, u := range []struct {
		name string
		role Role
	}{{"dpo", RoleAdmin}, {"sam", RoleSupervisor}, {"alice", RoleAgent}, {"bob", RoleAgent}, {"webchat", RoleIntegration}} {
		tok, hash := NewToken()
		e.tokens[u.name] = tok
		users = append(users, User{Name: u.name, Role: u.role, TokenSHA256: hash})
	}
	var rs RecordingStore = svc
	for _, w := range wrap {
		rs = w(svc)
	}
	e.h = New(Config{Recordings: rs, Users: users, Logger: quiet}).Handler()
	return e
}

// as returns the Authorization header of a user.
func (e *recEnv) as(user string) []string {
	return []string{"Authorization", "Bearer " + e.tokens[user]}
}

// record makes a complete recording of a call of the given length, its
// contact taken by agent (none when empty), and returns its id.
func (e *recEnv) record(t *testing.T, callID, agent string, frames int) string {
	t.Helper()
	ctx := t.Context()
	c := &ivr.Consent{
		CallID: callID, Caller: "+33612345678", Driver: "sip", Language: "fr",
		Flow: "accueil-fr", FlowVersion: "7", Node: "consentement",
		Prompt: "Cet appel est susceptible d'être enregistré.", Choice: ivr.ConsentAccepted,
	}
	if err := e.svc.SaveConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.Create(ctx, ivr.RecordingMeta{
		CallID: callID, Caller: c.Caller, Dialled: "3900", Driver: "sip", Flow: "accueil-fr",
		FlowVersion: "7", Node: "file", Queue: "support", ConsentID: c.ID, StartedAt: e.clk.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	left, right := make([]int16, 160), make([]int16, 160)
	for i := range frames {
		for j := range left {
			left[j], right[j] = int16(i*160+j), -int16(i*160+j)
		}
		if err := f.WriteFrames(left, right); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if agent != "" {
		// The contact as the router leaves it once the agent took it.
		err := e.db.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, channel, queue, call_id, agent, state, enqueued_at)
				VALUES (?, 'voice', 'support', ?, ?, 'connected', ?)`, uuid.NewString(), callID, agent, store.FormatTime(e.clk.Now()))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return f.ID()
}

// lastAudit returns the newest audit row.
func (e *recEnv) lastAudit(t *testing.T) recordings.AuditEntry {
	t.Helper()
	es, err := e.svc.AuditLog(context.WithoutCancel(t.Context()), recordings.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		t.Fatal("no audit row")
	}
	return es[0]
}

func (e *recEnv) auditCount(t *testing.T) int {
	t.Helper()
	es, err := e.svc.AuditLog(t.Context(), recordings.AuditFilter{Limit: recordings.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// wantAudit checks the newest audit row.
func wantAudit(t *testing.T, got recordings.AuditEntry, user, action string, outcome recordings.Outcome, recID string) {
	t.Helper()
	if got.User != user || got.Action != action || got.Outcome != outcome || got.RecordingID != recID {
		t.Errorf("audit row %+v, want user %q action %q outcome %q recording %q", got, user, action, outcome, recID)
	}
	if got.Remote == "" {
		t.Errorf("audit row %+v has no remote address", got)
	}
}

func recordingIDs(t *testing.T, r response) []string {
	t.Helper()
	var body struct {
		Recordings []recordings.Recording `json:"recordings"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body: %v\n%s", err, r.body)
	}
	out := []string{}
	for _, rec := range body.Recordings {
		out = append(out, rec.CallID)
	}
	return out
}

func TestRecordingsNeedAuthentication(t *testing.T) {
	e := newRecEnv(t, nil)
	id := e.record(t, "call-1", "alice", 5)
	for _, tt := range []struct {
		method, path, action string
		hdr                  []string
	}{
		{"GET", "/api/recordings", ActionSearch, nil},
		{"GET", "/api/recordings/" + id, ActionMetadata, nil},
		{"GET", "/api/recordings/" + id + "/audio", ActionListen, []string{"Authorization", "Bearer nope"}},
		{"GET", "/api/recordings/" + id + "/audio?download=1", ActionDownload, []string{"Authorization", "Basic YWxpY2U6bm9wZQ=="}},
		{"PUT", "/api/recordings/" + id + "/hold", ActionHold, nil},
		{"DELETE", "/api/recordings/" + id + "/hold", ActionRelease, nil},
		{"GET", "/api/audit", ActionAuditLog, nil},
		{"GET", "/api/purges", ActionPurgeLog, nil},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := do(t, e.h, tt.method, tt.path, "", tt.hdr...)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", r.status, r.body)
			}
			if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, "Bearer") || !strings.Contains(ch, "Basic") {
				t.Errorf("WWW-Authenticate %q", ch)
			}
			r.json(t)
			a := e.lastAudit(t)
			// The id asked for is in the row; it is not looked up before
			// the user is known.
			want := ""
			if strings.Contains(tt.path, id) {
				want = id
			}
			wantAudit(t, a, "-", tt.action, OutcomeUnauthenticated, want)
		})
	}
}

func TestAgentReachesOnlyItsCalls(t *testing.T) {
	e := newRecEnv(t, nil)
	mine := e.record(t, "call-alice", "alice", 5)
	e.clk.Advance(time.Minute)
	theirs := e.record(t, "call-bob", "bob", 5)
	e.clk.Advance(time.Minute)
	e.record(t, "call-nobody", "", 5)

	// Search: each agent sees its own calls; the supervisor sees all.
	for _, tt := range []struct{ user, query, want string }{
		{"alice", "", "call-alice"},
		{"bob", "", "call-bob"},
		{"alice", "?call_id=call-bob", ""},
		{"sam", "", "call-nobody call-bob call-alice"},
		{"dpo", "?call_id=call-bob", "call-bob"},
	} {
		r := do(t, e.h, "GET", "/api/recordings"+tt.query, "", e.as(tt.user)...)
		if r.status != 200 {
			t.Fatalf("%s search%s: status %d: %s", tt.user, tt.query, r.status, r.body)
		}
		if got := strings.Join(recordingIDs(t, r), " "); got != tt.want {
			t.Errorf("%s search%s: %q, want %q", tt.user, tt.query, got, tt.want)
		}
		wantAudit(t, e.lastAudit(t), tt.user, ActionSearch, OutcomeOK, "")
	}

	// Alice's own recording: metadata and audio.
	r := do(t, e.h, "GET", "/api/recordings/"+mine, "", e.as("alice")...)
	if r.status != 200 {
		t.Fatalf("own metadata: status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	if m["call_id"] != "call-alice" || m["id"] != mine {
		t.Errorf("metadata %v", m)
	}
	if c, _ := m["consent"].(map[string]any); c == nil || c["choice"] != "accepted" || c["node"] != "consentement" {
		t.Errorf("consent %v", m["consent"])
	}
	if strings.Contains(string(r.body), e.dir) || strings.Contains(string(r.body), ".wav") {
		t.Errorf("metadata shows a path: %s", r.body)
	}
	a := e.lastAudit(t)
	wantAudit(t, a, "alice", ActionMetadata, OutcomeOK, mine)
	if a.CallID != "call-alice" || a.Role != "agent" {
		t.Errorf("audit call %q role %q", a.CallID, a.Role)
	}
	r = do(t, e.h, "GET", "/api/recordings/"+mine+"/audio", "", e.as("alice")...)
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte("RIFF")) {
		t.Fatalf("own audio: status %d, %d bytes", r.status, len(r.body))
	}
	wantAudit(t, e.lastAudit(t), "alice", ActionListen, OutcomeOK, mine)

	// Bob's recording, and one that does not exist: denied alike.
	for _, id := range []string{theirs, "00000000-0000-4000-8000-000000000000"} {
		for _, sub := range []string{"", "/audio"} {
			r := do(t, e.h, "GET", "/api/recordings/"+id+sub, "", e.as("alice")...)
			if r.status != http.StatusForbidden {
				t.Fatalf("alice on %s%s: status %d, want 403: %s", id, sub, r.status, r.body)
			}
			action := ActionMetadata
			if sub != "" {
				action = ActionListen
			}
			wantAudit(t, e.lastAudit(t), "alice", action, OutcomeDenied, id)
		}
	}
	// The supervisor reaches Bob's recording.
	if r := do(t, e.h, "GET", "/api/recordings/"+theirs, "", e.as("sam")...); r.status != 200 {
		t.Errorf("supervisor: status %d: %s", r.status, r.body)
	}
	// An unknown recording is 404 for those who may see all.
	r = do(t, e.h, "GET", "/api/recordings/00000000-0000-4000-8000-000000000000", "", e.as("sam")...)
	if r.status != http.StatusNotFound {
		t.Errorf("unknown recording: status %d, want 404", r.status)
	}
	wantAudit(t, e.lastAudit(t), "sam", ActionMetadata, OutcomeNotFound, "00000000-0000-4000-8000-000000000000")
}

func TestRolesOfAdminEndpoints(t *testing.T) {
	e := newRecEnv(t, nil)
	id := e.record(t, "call-1", "alice", 5)
	for _, user := range []string{"sam", "alice"} {
		for _, tt := range []struct{ method, path, body, action string }{
			{"PUT", "/api/recordings/" + id + "/hold", `{"reason":"x"}`, ActionHold},
			{"DELETE", "/api/recordings/" + id + "/hold", "", ActionRelease},
			{"GET", "/api/audit", "", ActionAuditLog},
			{"GET", "/api/purges", "", ActionPurgeLog},
		} {
			r := do(t, e.h, tt.method, tt.path, tt.body, e.as(user)...)
			if r.status != http.StatusForbidden {
				t.Errorf("%s %s %s: status %d, want 403", user, tt.method, tt.path, r.status)
			}
			want := ""
			if strings.Contains(tt.path, id) {
				want = id
			}
			wantAudit(t, e.lastAudit(t), user, tt.action, OutcomeDenied, want)
		}
	}
	if rec, err := e.svc.Get(t.Context(), id); err != nil || rec.Hold != nil {
		t.Errorf("recording held by a refused request: %+v %v", rec, err)
	}
}

func TestHoldAndRelease(t *testing.T) {
	e := newRecEnv(t, nil)
	id := e.record(t, "call-1", "alice", 5)
	hold := "/api/recordings/" + id + "/hold"
	admin := append(e.as("dpo"), "Content-Type", "application/json")

	r := do(t, e.h, "PUT", hold, `{"reason":"dispute 2025-118"}`, admin...)
	if r.status != 200 {
		t.Fatalf("hold: status %d: %s", r.status, r.body)
	}
	if h, _ := r.json(t)["hold"].(map[string]any); h == nil || h["by"] != "dpo" || h["reason"] != "dispute 2025-118" {
		t.Errorf("hold answer %s", r.body)
	}
	a := e.lastAudit(t)
	wantAudit(t, a, "dpo", ActionHold, OutcomeOK, id)
	if a.CallID != "call-1" || a.Detail != "dispute 2025-118" {
		t.Errorf("audit call %q detail %q", a.CallID, a.Detail)
	}
	// The hold shows to whoever reads the recording.
	r = do(t, e.h, "GET", "/api/recordings/"+id, "", e.as("alice")...)
	if h, _ := r.json(t)["hold"].(map[string]any); h == nil || h["by"] != "dpo" {
		t.Errorf("hold not shown: %s", r.body)
	}

	for _, tt := range []struct {
		method, body string
		status       int
	}{
		{"PUT", `{"reason":"again"}`, http.StatusConflict},
		{"PUT", `{"reason":"  "}`, http.StatusBadRequest},
		{"PUT", `{"reason":"x","until":"never"}`, http.StatusBadRequest},
		{"PUT", `{"reason":"` + strings.Repeat("x", MaxHoldReason+1) + `"}`, http.StatusBadRequest},
		{"PUT", `not json`, http.StatusBadRequest},
		{"DELETE", "", 200},
		{"DELETE", "", http.StatusConflict},
	} {
		r := do(t, e.h, tt.method, hold, tt.body, admin...)
		if r.status != tt.status {
			t.Errorf("%s %.30s: status %d, want %d: %s", tt.method, tt.body, r.status, tt.status, r.body)
		}
		action, outcome := ActionHold, OutcomeError
		if tt.method == "DELETE" {
			action = ActionRelease
		}
		if tt.status == 200 {
			outcome = OutcomeOK
		}
		wantAudit(t, e.lastAudit(t), "dpo", action, outcome, id)
	}
	if rec, err := e.svc.Get(t.Context(), id); err != nil || rec.Hold != nil {
		t.Errorf("after release: %+v %v", rec, err)
	}
	r = do(t, e.h, "PUT", "/api/recordings/00000000-0000-4000-8000-000000000000/hold", `{"reason":"x"}`, admin...)
	if r.status != http.StatusNotFound {
		t.Errorf("hold of an unknown recording: status %d", r.status)
	}
}

// Nothing that is not a recording id reaches the store, whatever its
// spelling; each attempt is audited.
func TestPathsGoNowhere(t *testing.T) {
	e := newRecEnv(t, nil)
	id := e.record(t, "call-1", "alice", 5)
	// Something a traversal would reach if a path were built from the id.
	secret := filepath.Join(e.dir, "..", "secret.wav")
	if err := os.WriteFile(secret, []byte("RIFFsecret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/api/recordings/../secret.wav",
		"/api/recordings/%2e%2e%2fsecret.wav",
		"/api/recordings/..%2Fsecret.wav/audio",
		"/api/recordings/%2e%2e/audio",
		"/api/recordings/" + id + "/../../secret.wav",
		"/api/recordings/" + id + "/%2e%2e%2f%2e%2e%2fsecret.wav",
		"/api/recordings/./" + id,
		"/api/recordings//" + id,
		"/api/recordings/" + id + "/",
		"/api/recordings/" + strings.ToUpper(id),
		"/api/recordings/" + id + "x",
		"/api/recordings/" + id + "/audio/extra",
		"/api/recordings/%00",
		"/api/recordings/",
	} {
		t.Run(p, func(t *testing.T) {
			before := e.auditCount(t)
			r := do(t, e.h, "GET", p, "", e.as("dpo")...)
			if r.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", r.status, r.body)
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("redirected to %s", loc)
			}
			if bytes.Contains(r.body, []byte("secret")) || bytes.Contains(r.body, []byte("RIFF")) {
				t.Errorf("answer shows something: %s", r.body)
			}
			r.json(t)
			if e.auditCount(t) != before+1 {
				t.Fatal("not audited")
			}
			a := e.lastAudit(t)
			if a.User != "dpo" || a.Outcome != OutcomeNotFound {
				t.Errorf("audit row %+v", a)
			}
		})
	}
	// A wrong method is audited too, and keeps its Allow header.
	r := do(t, e.h, "POST", "/api/recordings/"+id, "", e.as("dpo")...)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Errorf("POST: status %d Allow %q", r.status, r.header.Get("Allow"))
	}
	wantAudit(t, e.lastAudit(t), "dpo", ActionMetadata, OutcomeError, "")
}

// wavSamples returns the interleaved samples of a plain WAV's data chunk.
func wavSamples(t *testing.T, b []byte) []int16 {
	t.Helper()
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" || string(b[36:40]) != "data" {
		t.Fatalf("not a canonical WAV: % x", b[:min(len(b), 44)])
	}
	if ch, rate := binary.LittleEndian.Uint16(b[22:]), binary.LittleEndian.Uint32(b[24:]); ch != 2 || rate != 8000 {
		t.Fatalf("%d channels at %d Hz, want 2 at 8000", ch, rate)
	}
	data := b[44:]
	out := make([]int16, len(data)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out
}

func TestAudio(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  []byte
	}{
		{"plain", nil},
		{"encrypted", bytes.Repeat([]byte{7}, recordings.KeySize)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newRecEnv(t, tt.key)
			const frames = 50 // one second
			id := e.record(t, "call-1", "alice", frames)
			audio := "/api/recordings/" + id + "/audio"

			r := do(t, e.h, "GET", audio, "", e.as("alice")...)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "audio/wav" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") {
				t.Errorf("Content-Disposition %q", cd)
			}
			if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control %q", cc)
			}
			full := r.body
			samples := wavSamples(t, full)
			if len(samples) != 2*160*frames {
				t.Fatalf("%d samples, want %d", len(samples), 2*160*frames)
			}
			for i := 0; i < len(samples); i += 2 {
				if n := int16(i / 2); samples[i] != n || samples[i+1] != -n {
					t.Fatalf("frame %d: %d %d, want %d %d", i/2, samples[i], samples[i+1], n, -n)
				}
			}

			// A range: 206 with exactly those bytes.
			r = do(t, e.h, "GET", audio, "", append(e.as("alice"), "Range", "bytes=1000-1999")...)
			if r.status != http.StatusPartialContent {
				t.Fatalf("range: status %d", r.status)
			}
			if !bytes.Equal(r.body, full[1000:2000]) {
				t.Error("range: bytes differ from the full file's")
			}
			if cr := r.header.Get("Content-Range"); cr != "bytes 1000-1999/"+itoa(len(full)) {
				t.Errorf("Content-Range %q", cr)
			}
			a := e.lastAudit(t)
			wantAudit(t, a, "alice", ActionListen, OutcomeOK, id)
			if a.Detail != "range bytes=1000-1999" {
				t.Errorf("audit detail %q", a.Detail)
			}
			// A suffix range, as players ask for the end.
			r = do(t, e.h, "GET", audio, "", append(e.as("alice"), "Range", "bytes=-100")...)
			if r.status != http.StatusPartialContent || !bytes.Equal(r.body, full[len(full)-100:]) {
				t.Errorf("suffix range: status %d, %d bytes", r.status, len(r.body))
			}

			// Download: an attachment, audited as such.
			r = do(t, e.h, "GET", audio+"?download=1", "", e.as("sam")...)
			if r.status != 200 || !bytes.Equal(r.body, full) {
				t.Fatalf("download: status %d", r.status)
			}
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="recording-`+id+`.wav"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			wantAudit(t, e.lastAudit(t), "sam", ActionDownload, OutcomeOK, id)

			// On disk: plain WAV, or a container that is nothing like one.
			var onDisk []string
			filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					onDisk = append(onDisk, p)
				}
				return err
			})
			if len(onDisk) != 1 {
				t.Fatalf("files in the store: %v", onDisk)
			}
			b, err := os.ReadFile(onDisk[0])
			if err != nil {
				t.Fatal(err)
			}
			if enc := tt.key != nil; enc == bytes.HasPrefix(b, []byte("RIFF")) || enc == bytes.Equal(b, full) {
				t.Errorf("encrypted %v, but the stored file starts % x", enc, b[:12])
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// No audit, no audio: a request whose audit row cannot be written fails.
func TestAuditFailureServesNothing(t *testing.T) {
	e := newRecEnv(t, nil, func(s *recordings.Service) RecordingStore { return failingAudit{s} })
	id := e.record(t, "call-1", "alice", 5)
	for _, tt := range []struct {
		path string
		hdr  []string
	}{
		{"/api/recordings/" + id + "/audio", e.as("dpo")},
		{"/api/recordings/" + id, e.as("sam")},
		{"/api/recordings", e.as("alice")},
		{"/api/recordings/" + id + "/audio", nil},
		{"/api/recordings/../x", e.as("dpo")},
	} {
		r := do(t, e.h, "GET", tt.path, "", tt.hdr...)
		if r.status != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", tt.path, r.status)
		}
		if bytes.Contains(r.body, []byte("RIFF")) || bytes.Contains(r.body, []byte("call-1")) {
			t.Errorf("%s: served %s", tt.path, r.body)
		}
		if msg := r.json(t)["error"]; msg != "internal error" {
			t.Errorf("%s: error %q", tt.path, msg)
		}
	}
}

func TestAuditAndPurgeLogs(t *testing.T) {
	e := newRecEnv(t, nil)
	old := e.record(t, "call-old", "alice", 5)
	// Past the retention: the purge deletes it and logs it.
	e.clk.Advance(recordings.DefaultRetention + time.Hour)
	rep, err := e.svc.Purge(t.Context(), false)
	if err != nil || len(rep.Items) != 1 {
		t.Fatalf("purge: %+v %v", rep, err)
	}
	do(t, e.h, "GET", "/api/recordings/"+old, "", e.as("alice")...)
	do(t, e.h, "GET", "/api/recordings", "")

	r := do(t, e.h, "GET", "/api/purges", "", e.as("dpo")...)
	if r.status != 200 {
		t.Fatalf("purges: status %d: %s", r.status, r.body)
	}
	var purges struct {
		Purges []recordings.PurgeEntry `json:"purges"`
	}
	if err := json.Unmarshal(r.body, &purges); err != nil || len(purges.Purges) != 1 ||
		purges.Purges[0].RecordingID != old || purges.Purges[0].CallID != "call-old" {
		t.Errorf("purges %s (%v)", r.body, err)
	}

	r = do(t, e.h, "GET", "/api/audit?limit=10", "", e.as("dpo")...)
	if r.status != 200 {
		t.Fatalf("audit: status %d: %s", r.status, r.body)
	}
	var audit struct {
		Entries []recordings.AuditEntry `json:"entries"`
	}
	if err := json.Unmarshal(r.body, &audit); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range audit.Entries {
		got = append(got, a.User+" "+a.Action+" "+string(a.Outcome))
	}
	// Newest first; the reading of the audit is itself audited.
	want := "dpo audit_log ok|dpo purge_log ok|- search unauthenticated|alice metadata denied"
	if strings.Join(got, "|") != want {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "|"), want)
	}
	r = do(t, e.h, "GET", "/api/audit?user=alice", "", e.as("dpo")...)
	if err := json.Unmarshal(r.body, &audit); err != nil || len(audit.Entries) != 1 || audit.Entries[0].RecordingID != old {
		t.Errorf("audit of alice: %s", r.body)
	}
	for _, q := range []string{"?limit=0", "?from=yesterday", "?colour=red"} {
		if r := do(t, e.h, "GET", "/api/audit"+q, "", e.as("dpo")...); r.status != 400 {
			t.Errorf("audit%s: status %d, want 400", q, r.status)
		}
	}
}

func TestSearchParameters(t *testing.T) {
	e := newRecEnv(t, nil)
	for _, call := range []string{"c0", "c1", "c2"} {
		e.record(t, call, "", 1)
		e.clk.Advance(24 * time.Hour)
	}
	for _, tt := range []struct {
		query  string
		status int
		want   string
	}{
		{"", 200, "c2 c1 c0"},
		{"?call_id=c1", 200, "c1"},
		{"?caller=%2B33612345678&limit=2", 200, "c2 c1"},
		{"?limit=2&offset=2", 200, "c0"},
		{"?from=2025-06-03", 200, "c2 c1"},
		{"?to=2025-06-03T00:00:00Z", 200, "c0"},
		{"?caller=%2B33000000000", 200, ""},
		{"?limit=501", 400, ""},
		{"?offset=-1", 400, ""},
		{"?from=last+week", 400, ""},
		{"?path=/etc/passwd", 400, ""},
	} {
		r := do(t, e.h, "GET", "/api/recordings"+tt.query, "", e.as("sam")...)
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.query, r.status, tt.status, r.body)
			continue
		}
		if tt.status == 200 {
			if got := strings.Join(recordingIDs(t, r), " "); got != tt.want {
				t.Errorf("%s: %q, want %q", tt.query, got, tt.want)
			}
		}
		outcome := OutcomeOK
		if tt.status != 200 {
			outcome = OutcomeError
		}
		wantAudit(t, e.lastAudit(t), "sam", ActionSearch, outcome, "")
	}
}

func TestValidRecordingID(t *testing.T) {
	for id, want := range map[string]bool{
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b":  true,
		"3F1E2D4C-5B6A-4798-8A9B-0C1D2E3F4A5B":  false,
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5":   false,
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b0": false,
		"3f1e2d4c5b6a-4798-8a9b-0c1d2e3f4a5b-":  false,
		"../../../../../../../../../etc/passwd": false,
		"3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a/b":  false,
		"":                                      false,
	} {
		if got := ValidRecordingID(id); got != want {
			t.Errorf("ValidRecordingID(%q) = %v, want %v", id, got, want)
		}
	}
}

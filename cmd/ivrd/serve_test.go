package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/store"
	"github.com/ivrd/ivrd/web"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve wires the recordings service and the call records' purge: start-up
// recovery reports the leftovers of a crash, both purges run at start-up,
// the engine and the API get the service, and the API its users.
func TestServeWiresRecordings(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	if err := os.MkdirAll(flows, 0o750); err != nil {
		t.Fatal(err)
	}
	flow := "flow: t\nlanguage: en\nentry: wait\nnodes:\n  wait:\n    queue:\n      name: q\n"
	if err := os.WriteFile(filepath.Join(flows, "t.yaml"), []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	entry := "entrypoints:\n  - number: \"3900\"\n    flow: t\ndefault: t\n"
	if err := os.WriteFile(filepath.Join(flows, "entrypoints.yaml"), []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	token, hash := web.NewToken()
	addr := freeAddr(t)
	cfg, err := configFrom(t, `data_dir: `+filepath.Join(dir, "data")+`
flows:
  dir: `+flows+`
  watch: false
sip:
  enabled: false
http:
  addr: `+addr+`
  users:
    - {name: dpo, role: admin, token_sha256: `+hash+`}
recordings:
  purge_interval: 1h
`, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A previous run left an expired recording and, killed, a part file
	// that belongs to no recording.
	db, err := store.Open(t.Context(), cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := recordings.New(db, recordings.Config{Dir: cfg.Recordings.Dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	expired := seedRecording(t, svc, "call-expired", time.Now().Add(-190*24*time.Hour))
	// ... and call records, one past calls.retention.
	for _, c := range []struct {
		id  string
		age time.Duration
	}{{"call-old", 200 * 24 * time.Hour}, {"call-fresh", time.Hour}} {
		start := time.Now().Add(-c.age)
		end := start.Add(time.Minute)
		if err := store.NewCallLog(db).SaveCall(t.Context(), &ivr.CallRecord{ID: c.id, Caller: "+33612345678", StartedAt: start, EndedAt: &end}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	part := filepath.Join(cfg.Recordings.Dir, "2026", "01", "02", "0b7d3c1e-6f2a-4e59-8c1d-93a4b5e6f708.wav.part")
	if err := os.MkdirAll(filepath.Dir(part), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, []byte("not audio"), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil))) }()
	stopped := false
	defer func() {
		cancel()
		if stopped {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()

	get := func(path, tok string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return res, b.Bytes()
	}
	// Wait for the API, then for the start-up purge.
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := get("/api/purges", token)
		if res != nil && res.StatusCode == 200 && bytes.Contains(body, []byte(expired)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired recording not purged at start-up: %v %s", res, body)
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("serve returned at start: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if res, _ := get("/api/recordings", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: status %d, want 401", res.StatusCode)
	}
	// The call records past calls.retention went at start-up too; the call
	// log is served with a token only.
	for {
		res, body := get("/api/calls", token)
		if res != nil && res.StatusCode == 200 && !bytes.Contains(body, []byte("call-old")) && bytes.Contains(body, []byte("call-fresh")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old call record not purged at start-up: %v %s", res, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, body := get("/api/calls", ""); res.StatusCode != http.StatusUnauthorized || bytes.Contains(body, []byte("+336")) {
		t.Errorf("call log without a token: status %d %s, want 401", res.StatusCode, body)
	}
	res, body := get("/api/audit?outcome=unauthenticated", token)
	var audit struct {
		Entries []recordings.AuditEntry `json:"entries"`
	}
	if err := json.Unmarshal(body, &audit); err != nil || res.StatusCode != 200 || len(audit.Entries) != 1 {
		t.Errorf("audit: %d %s", res.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"recordings left over by a previous run\" leftovers=1") ||
		!strings.Contains(logs.String(), "quarantined=1") {
		t.Errorf("leftover not reported at Warn")
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("leftover part file still in place: %v", err)
	}
}

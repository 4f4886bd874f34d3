package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/store"
	"github.com/ivrd/ivrd/web"
)

// seedRecording stores a complete recording of callID started at start.
func seedRecording(t *testing.T, svc *recordings.Service, callID string, start time.Time) string {
	t.Helper()
	ctx := t.Context()
	c := &ivr.Consent{CallID: callID, Choice: ivr.ConsentAccepted, At: start}
	if err := svc.SaveConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	f, err := svc.Create(ctx, ivr.RecordingMeta{CallID: callID, ConsentID: c.ID, StartedAt: start})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, 160)
	for range 10 {
		if err := f.WriteFrames(frame, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return f.ID()
}

// purgeSetup writes a config in a temporary folder and seeds its store with
// an expired and a fresh recording.
func purgeSetup(t *testing.T, extra string) (config string, svc *recordings.Service, expired, fresh string) {
	t.Helper()
	dir := t.TempDir()
	config = filepath.Join(dir, "ivrd.yaml")
	yaml := "data_dir: " + filepath.Join(dir, "data") + "\nsip:\n  enabled: false\n" + extra
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), filepath.Join(dir, "data", "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err = recordings.New(db, recordings.Config{Dir: filepath.Join(dir, "data", "recordings"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expired = seedRecording(t, svc, "call-expired", now.Add(-200*24*time.Hour))
	fresh = seedRecording(t, svc, "call-fresh", now.Add(-time.Hour))
	return config, svc, expired, fresh
}

func TestPurgeCommand(t *testing.T) {
	config, svc, expired, fresh := purgeSetup(t, "")
	ctx := t.Context()
	files := func() int {
		n := 0
		filepath.WalkDir(svc.Dir(), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return err
		})
		return n
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"purge", "--dry-run", "--config", config}, nil, &out, &errOut); code != 0 {
		t.Fatalf("purge --dry-run: exit %d\n%s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.HasPrefix(lines[1], expired+"  call-expired  ") ||
		!strings.Contains(lines[2], "1 expired recording(s)") || !strings.Contains(lines[2], "dry run") ||
		!strings.HasPrefix(lines[3], "ended before ") || !strings.Contains(lines[3], "dry run") {
		t.Errorf("dry run output:\n%s", out.String())
	}
	if strings.Contains(out.String(), fresh) {
		t.Errorf("dry run lists the fresh recording:\n%s", out.String())
	}
	// Nothing went.
	if _, err := svc.Get(ctx, expired); err != nil {
		t.Errorf("dry run deleted the row: %v", err)
	}
	if n := files(); n != 2 {
		t.Errorf("%d files after the dry run, want 2", n)
	}
	if log, _ := svc.PurgeLog(ctx, 10); len(log) != 0 {
		t.Errorf("dry run wrote the purge log: %+v", log)
	}

	out.Reset()
	if code := run([]string{"purge", "--config", config}, nil, &out, &errOut); code != 0 {
		t.Fatalf("purge: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), expired) || !strings.Contains(out.String(), "1 expired recording(s)") ||
		strings.Contains(out.String(), "dry run") {
		t.Errorf("purge output:\n%s", out.String())
	}
	if _, err := svc.Get(ctx, expired); !errors.Is(err, recordings.ErrNotFound) {
		t.Errorf("expired recording still there: %v", err)
	}
	if _, err := svc.Get(ctx, fresh); err != nil {
		t.Errorf("fresh recording gone: %v", err)
	}
	if n := files(); n != 1 {
		t.Errorf("%d files after the purge, want 1", n)
	}

	out.Reset()
	if code := run([]string{"purge", "--config", config}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "0 expired") {
		t.Errorf("second purge: exit %d\n%s", code, out.String())
	}
}

func TestPurgeCommandRefusesBadConfig(t *testing.T) {
	config, _, _, _ := purgeSetup(t, "recordings:\n  retention: 200d\n")
	var out, errOut bytes.Buffer
	if code := run([]string{"purge", "--config", config}, nil, &out, &errOut); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	want := "recordings.retention: 200d is over 6 months: recordings may be kept no more than 6 months (CNIL deliberation 2014-474)"
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
}

func TestTokenCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"token", "alice", "agent"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("output:\n%s", out.String())
	}
	token := lines[1]
	want := "  - {name: alice, role: agent, token_sha256: " + web.HashToken(token) + "}"
	if lines[3] != want {
		t.Errorf("config line %q, want %q", lines[3], want)
	}
	// The printed line is valid configuration.
	c, err := configFrom(t, "http:\n  users:\n"+lines[3]+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := c.HTTP.users(); len(u) != 1 || u[0].Name != "alice" || u[0].TokenSHA256 != web.HashToken(token) {
		t.Errorf("users %+v", u)
	}

	for _, args := range [][]string{{"token", "alice", "boss"}, {"token", "a:b", "agent"}, {"token", "alice"}} {
		out.Reset()
		errOut.Reset()
		if code := run(args, nil, &out, &errOut); code != 2 || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q", args, code, out.String())
		}
	}
}

// ivrd purge deletes the call records, contacts and callback requests past
// calls.retention, after the recordings: a call whose recording the same
// run deleted goes too.
func TestPurgeCommandCallRecords(t *testing.T) {
	config, svc, _, _ := purgeSetup(t, "calls:\n  retention: 30d\n")
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(filepath.Dir(config), "data", "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := store.NewCallLog(db)
	now := time.Now()
	for _, c := range []struct {
		id    string
		start time.Time
	}{
		{"call-expired", now.Add(-200 * 24 * time.Hour)}, // its recording expired too
		{"call-old", now.Add(-40 * 24 * time.Hour)},
		{"call-fresh", now.Add(-time.Hour)}, // its recording is fresh
		{"call-recent", now.Add(-20 * 24 * time.Hour)},
	} {
		end := c.start.Add(time.Minute)
		if err := log.SaveCall(ctx, &ivr.CallRecord{ID: c.id, Caller: "+33612345678", StartedAt: c.start, EndedAt: &end}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		calls, err := log.ListCalls(ctx, store.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range calls {
			out = append(out, c.ID)
		}
		return out
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"purge", "--dry-run", "--config", config}, nil, &out, &errOut); code != 0 {
		t.Fatalf("purge --dry-run: exit %d\n%s", code, errOut.String())
	}
	// The expired call still has its recording: the dry run counts only
	// call-old.
	if !strings.Contains(out.String(), ": 1 call record(s), 0 contact(s)") {
		t.Errorf("dry run output:\n%s", out.String())
	}
	if got := strings.Join(ids(), " "); got != "call-fresh call-recent call-old call-expired" {
		t.Errorf("calls after the dry run: %s", got)
	}

	out.Reset()
	if code := run([]string{"purge", "--config", config}, nil, &out, &errOut); code != 0 {
		t.Fatalf("purge: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), ": 2 call record(s), 0 contact(s), 0 callback request(s) with 0 attempt(s), 0 callback offer(s), deleted") {
		t.Errorf("purge output:\n%s", out.String())
	}
	if got := strings.Join(ids(), " "); got != "call-fresh call-recent" {
		t.Errorf("calls after the purge: %s", got)
	}
	if rs, err := svc.Search(ctx, recordings.Filter{}); err != nil || len(rs) != 1 {
		t.Errorf("recordings after the purge: %v %v", rs, err)
	}
}

func TestPurgeCommandRefusesShortCallRetention(t *testing.T) {
	config, _, _, _ := purgeSetup(t, "calls:\n  retention: 1d\n")
	var out, errOut bytes.Buffer
	if code := run([]string{"purge", "--config", config}, nil, &out, &errOut); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if want := "calls.retention: 1d is under 2 days"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}

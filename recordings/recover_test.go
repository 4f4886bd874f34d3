package recordings

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
)

// crashed leaves a recording of callID as a crash would: its row open and
// ms milliseconds of audio written, of which what the writer buffered
// never reached the file. The process that wrote it is gone: the returned
// service is a fresh one on the same store.
func (e *env) crashed(t *testing.T, callID string, ms int) string {
	t.Helper()
	runChild(t, childSpec{DB: e.db.Path(), Dir: e.dir, Key: e.cfg.Key, Now: t0, Mode: "record",
		CallID: callID, MS: ms})
	var id string
	if err := e.db.Reader().QueryRowContext(t.Context(), `SELECT id FROM recordings WHERE call_id = ?`, callID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) item(t *testing.T, rep RecoveryReport, id string) RecoveryItem {
	t.Helper()
	for _, it := range rep.Items {
		if it.RecordingID == id {
			return it
		}
	}
	t.Fatalf("recording %s not in the recovery report %+v", id, rep)
	return RecoveryItem{}
}

func TestRecoverAfterKill(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			var mods []func(*Config)
			if enc {
				mods = append(mods, encrypted)
			}
			e := newEnv(t, mods...)
			ctx := t.Context()
			// 5 s of audio: two 64 KiB buffers (4.096 s) reached the disk.
			id := e.crashed(t, "call-1", 5000)
			r, err := e.s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != StateRecording || len(r.Pauses) != 1 {
				t.Fatalf("after the kill: state %s pauses %+v", r.State, r.Pauses)
			}
			rep, err := e.s.Recover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Items) != 1 {
				t.Fatalf("report %+v, want one item", rep)
			}
			it := e.item(t, rep, id)
			if it.Action != RecoveryCompleted || it.CallID != "call-1" {
				t.Errorf("item %+v", it)
			}
			r, err = e.s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(e.dir, filepath.FromSlash(r.relPath))
			sum, size, err := audiofile.Hash(path)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != StateRecovered || r.SHA256 != sum || r.Size != size || r.Encrypted != enc {
				t.Errorf("recovered row %+v; file sha256 %s size %d", r, sum, size)
			}
			if r.DurationSeconds != 4.096 {
				t.Errorf("recovered %v s, want the 4.096 s that reached the disk", r.DurationSeconds)
			}
			if len(r.Pauses) != 1 || r.Pauses[0].Reason != "sensitive: card_number" {
				t.Errorf("pauses lost: %+v", r.Pauses)
			}
			rd, _, err := e.s.Open(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			wav, err := io.ReadAll(rd)
			rd.Close()
			if err != nil {
				t.Fatal(err)
			}
			l, _ := wavSamples(t, wav)
			if len(l) != 4096*8 {
				t.Errorf("%d samples, want %d", len(l), 4096*8)
			}
			e.checkConsistent(t)

			rep, err = e.s.Recover(ctx)
			if err != nil || len(rep.Items) != 0 {
				t.Errorf("second Recover = %+v, %v; want nothing to do", rep, err)
			}
		})
	}
}

func TestRecoverLeftovers(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	start := func(callID string) ivr.RecordingFile {
		cid := e.consent(t, callID, ivr.ConsentAccepted)
		f, err := e.s.Create(ctx, meta(callID, cid, t0))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	partOf := func(id string) string {
		return filepath.Join(e.dir, filepath.FromSlash(e.relPath(t, id))+audiofile.PartSuffix)
	}

	// A leftover that is not a recording: damaged, quarantined.
	garbage := start("call-garbage").ID()
	if err := os.WriteFile(partOf(garbage), []byte("not a wav at all, not even close"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A row whose file vanished: damaged.
	vanished := start("call-vanished").ID()
	if err := os.Remove(partOf(vanished)); err != nil {
		t.Fatal(err)
	}
	// A file renamed complete, its row never updated: recovered.
	f := start("call-renamed")
	l, r := frames(160, 2)
	for range 50 {
		if err := f.WriteFrames(l, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	renamed := f.ID()
	e.exec(t, `UPDATE recordings SET state = 'recording', sha256 = '', size = 0, duration_ms = 0, ended_at = NULL WHERE id = ?`, renamed)
	// A .part nobody knows: quarantined.
	orphanRel := "2026/03/01/stray.wav" + audiofile.PartSuffix
	orphan := filepath.Join(e.dir, filepath.FromSlash(orphanRel))
	if err := os.MkdirAll(filepath.Dir(orphan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The same name already in quarantine: the new one gets another.
	if err := os.MkdirAll(filepath.Join(e.dir, QuarantineDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, QuarantineDir, "stray.wav.part"), []byte("older"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Files outside the date folders are not the service's to judge.
	strays := []string{"other.wav.part", "tts/cache.wav.part", "2026/03/x/a.wav.part", "2026/03/01/deeper/a.wav.part"}
	for _, rel := range strays {
		p := filepath.Join(e.dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The process that wrote them is gone.
	e.reopen(t)
	// A recording this process is writing is left alone.
	live := start("call-live")

	rep, err := e.s.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Items) != 4 {
		t.Errorf("report %+v, want 4 items", rep.Items)
	}

	it := e.item(t, rep, garbage)
	g, err := e.s.Get(ctx, garbage)
	if err != nil {
		t.Fatal(err)
	}
	if it.Action != RecoveryDamaged || g.State != StateDamaged || !strings.HasPrefix(it.Quarantine, QuarantineDir+"/") || g.relPath != it.Quarantine {
		t.Errorf("garbage: item %+v, row %s at %s", it, g.State, g.relPath)
	}
	if exists(t, partOf(garbage)) || !exists(t, filepath.Join(e.dir, filepath.FromSlash(it.Quarantine))) {
		t.Error("garbage leftover not moved to quarantine")
	}
	if _, _, err := e.s.Open(ctx, garbage); err == nil {
		t.Error("a damaged recording opened")
	}

	it = e.item(t, rep, vanished)
	v, err := e.s.Get(ctx, vanished)
	if err != nil {
		t.Fatal(err)
	}
	if it.Action != RecoveryDamaged || v.State != StateDamaged || it.Quarantine != "" {
		t.Errorf("vanished: item %+v, row %s", it, v.State)
	}

	it = e.item(t, rep, renamed)
	rn, err := e.s.Get(ctx, renamed)
	if err != nil {
		t.Fatal(err)
	}
	sum, size, err := audiofile.Hash(filepath.Join(e.dir, filepath.FromSlash(rn.relPath)))
	if err != nil {
		t.Fatal(err)
	}
	if it.Action != RecoveryCompleted || rn.State != StateRecovered || rn.SHA256 != sum || rn.Size != size || rn.DurationSeconds != 1 {
		t.Errorf("renamed: item %+v, row %+v", it, rn)
	}

	var orphanItem *RecoveryItem
	for i := range rep.Items {
		if rep.Items[i].File == orphanRel {
			orphanItem = &rep.Items[i]
		}
	}
	if orphanItem == nil || orphanItem.Action != RecoveryQuarantined || orphanItem.RecordingID != "" ||
		orphanItem.Quarantine != QuarantineDir+"/stray.wav.part.1" || exists(t, orphan) {
		t.Errorf("orphan: %+v, still in place %v", orphanItem, exists(t, orphan))
	}
	if got, err := os.ReadFile(filepath.Join(e.dir, QuarantineDir, "stray.wav.part")); err != nil || string(got) != "older" {
		t.Errorf("the older quarantined file was overwritten: %q, %v", got, err)
	}

	if rep.Count(RecoveryDamaged) != 2 || rep.Count(RecoveryCompleted) != 1 || rep.Count(RecoveryQuarantined) != 1 {
		t.Errorf("counts: %+v", rep.Items)
	}

	// The live recording was not touched and closes normally.
	if err := live.WriteFrames(l, r); err != nil {
		t.Fatal(err)
	}
	if err := live.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Idempotent.
	rep, err = e.s.Recover(ctx)
	if err != nil || len(rep.Items) != 0 {
		t.Errorf("second Recover = %+v, %v", rep.Items, err)
	}
	for _, rel := range strays {
		p := filepath.Join(e.dir, filepath.FromSlash(rel))
		if !exists(t, p) {
			t.Errorf("%s was moved", rel)
		}
		os.Remove(p)
	}
	e.checkConsistent(t)
}

// An encrypted leftover found by a service without the key is left for a
// start-up with the key, and reported.
func TestRecoverEncryptedWithoutKey(t *testing.T) {
	e := newEnv(t, encrypted)
	id := e.crashed(t, "call-1", 3000)
	e.cfg.Key = nil
	e.reopen(t)
	rep, err := e.s.Recover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if it := e.item(t, rep, id); it.Action != RecoveryPending {
		t.Errorf("item %+v, want pending", it)
	}
	if !exists(t, filepath.Join(e.dir, filepath.FromSlash(e.relPath(t, id)))+audiofile.PartSuffix) {
		t.Error("the leftover was moved")
	}
	e.cfg.Key = testKey
	e.reopen(t)
	rep, err = e.s.Recover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if it := e.item(t, rep, id); it.Action != RecoveryCompleted {
		t.Errorf("with the key: item %+v, want recovered", it)
	}
}

func TestRecoverSkipsActive(t *testing.T) {
	e := newEnv(t)
	cid := e.consent(t, "call-1", ivr.ConsentAccepted)
	f, err := e.s.Create(t.Context(), meta("call-1", cid, t0))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		l, r := frames(160, 1)
		for range 200 {
			if err := f.WriteFrames(l, r); err != nil {
				done <- err
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
		done <- f.Close(t.Context())
	}()
	for range 5 {
		rep, err := e.s.Recover(t.Context())
		if err != nil || len(rep.Items) != 0 {
			t.Fatalf("Recover during a recording = %+v, %v", rep.Items, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.checkConsistent(t)
}

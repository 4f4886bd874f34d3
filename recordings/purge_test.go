package recordings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

const day = 24 * time.Hour

// seeded is a store of back-dated recordings, now being t0.
type seeded struct {
	expired []string          // purged by a purge at t0, in purge order
	kept    []string          // fresh, held, or still being written
	sha     map[string]string // sha256 of every recording, by id
	open    ivr.RecordingFile // being written, started long ago
}

func seed(t *testing.T, e *env) *seeded {
	t.Helper()
	ctx := t.Context()
	sd := &seeded{sha: map[string]string{}}
	n := 0
	rec := func(start time.Time) string {
		n++
		id := e.record(t, fmt.Sprintf("call-%02d", n), start, 60)
		r, err := e.s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sd.sha[id] = r.SHA256
		return id
	}
	type exp struct {
		id      string
		expires time.Time
	}
	var expired []exp
	addExpired := func(start time.Time) string {
		id := rec(start)
		expired = append(expired, exp{id, start.Add(DefaultRetention)})
		return id
	}
	addExpired(t0.Add(-200 * day))
	addExpired(t0.Add(-181 * day))
	addExpired(t0.Add(-180 * day)) // expires exactly now
	for i := range 6 {
		addExpired(t0.Add(-190*day + time.Duration(i)*time.Minute))
	}
	// Damaged after a crash, its leftover already gone: it expires too.
	dmg := addExpired(t0.Add(-185 * day))
	if err := os.Remove(filepath.Join(e.dir, filepath.FromSlash(e.relPath(t, dmg)))); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE recordings SET state = 'damaged' WHERE id = ?`, dmg)

	sd.kept = append(sd.kept,
		rec(t0.Add(-180*day+time.Second)), // expires in a second
		rec(t0.Add(-30*day)),
		rec(t0.Add(-time.Hour)),
	)
	for _, start := range []time.Time{t0.Add(-250 * day), t0.Add(-190 * day)} {
		id := rec(start)
		if err := e.s.Hold(ctx, id, "legal@example.com", "court order 2026-17"); err != nil {
			t.Fatal(err)
		}
		sd.kept = append(sd.kept, id)
	}
	cid := e.consent(t, "call-open", ivr.ConsentAccepted)
	f, err := e.s.Create(ctx, meta("call-open", cid, t0.Add(-179*day)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Abort(context.Background()) })
	sd.open = f
	sd.kept = append(sd.kept, f.ID())

	sort.Slice(expired, func(i, j int) bool {
		if !expired[i].expires.Equal(expired[j].expires) {
			return expired[i].expires.Before(expired[j].expires)
		}
		return expired[i].id < expired[j].id
	})
	for _, x := range expired {
		sd.expired = append(sd.expired, x.id)
	}
	e.clock.Set(t0)
	return sd
}

func ids(items []PurgeItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkPurged fails unless exactly sd.expired are gone, files and rows,
// each logged once in the purge log, and everything else is kept.
func (e *env) checkPurged(t *testing.T, sd *seeded) {
	t.Helper()
	ctx := t.Context()
	for _, id := range sd.expired {
		if _, err := e.s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired recording %s still there (%v)", id, err)
		}
	}
	for _, id := range sd.kept {
		r, err := e.s.Get(ctx, id)
		if err != nil {
			t.Errorf("kept recording %s: %v", id, err)
			continue
		}
		if r.State != StateRecording && !exists(t, filepath.Join(e.dir, filepath.FromSlash(r.relPath))) {
			t.Errorf("kept recording %s lost its file", id)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM recordings`); n != len(sd.kept) {
		t.Errorf("%d recordings left, want %d", n, len(sd.kept))
	}
	log, err := e.s.PurgeLog(ctx, MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != len(sd.expired) {
		t.Errorf("%d purge log rows, want %d", len(log), len(sd.expired))
	}
	byID := map[string]PurgeEntry{}
	for _, l := range log {
		byID[l.RecordingID] = l
	}
	for _, id := range sd.expired {
		l, ok := byID[id]
		if !ok {
			t.Errorf("recording %s not in the purge log", id)
			continue
		}
		if l.SHA256 != sd.sha[id] || l.Reason != ReasonExpired || !l.PurgedAt.Equal(t0) || l.ExpiredAt.After(t0) || l.CallID == "" {
			t.Errorf("purge log row %+v (sha256 was %s)", l, sd.sha[id])
		}
	}
	e.checkConsistent(t)
}

func TestPurgeSeeded(t *testing.T) {
	e := newEnv(t)
	sd := seed(t, e)
	e.s.purgeBatch = 4
	e.watchSync(t, "INSERT", "purge_log")
	rep, err := e.s.Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Items); !sameIDs(got, sd.expired) {
		t.Errorf("purged %v, want %v", got, sd.expired)
	}
	var bytes int64
	for _, it := range rep.Items {
		bytes += it.Size
	}
	if rep.DryRun || rep.Bytes != bytes || bytes == 0 {
		t.Errorf("report dry_run %v bytes %d, items sum to %d", rep.DryRun, rep.Bytes, bytes)
	}
	e.checkPurged(t, sd)
	e.checkDurable(t, "purge_log", len(sd.expired))

	// Idempotent: nothing more goes.
	rep, err = e.s.Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Items) != 0 {
		t.Errorf("second purge removed %v", ids(rep.Items))
	}
	e.checkPurged(t, sd)

	// A released hold lets the next purge take the recording.
	held := sd.kept[3]
	if err := e.s.Release(t.Context(), held, "legal@example.com"); err != nil {
		t.Fatal(err)
	}
	rep, err = e.s.Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Items); !sameIDs(got, []string{held}) {
		t.Errorf("purge after release removed %v, want %s", got, held)
	}
}

func TestPurgeDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	sd := seed(t, e)
	e.s.purgeBatch = 3 // several pages
	before := e.files(t)
	rows := e.count(t, `SELECT count(*) FROM recordings`)
	rep, err := e.s.Purge(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun {
		t.Error("report not marked dry run")
	}
	if got := ids(rep.Items); !sameIDs(got, sd.expired) {
		t.Errorf("dry run lists %v, want %v", got, sd.expired)
	}
	for _, it := range rep.Items {
		if it.CallID == "" || it.StartedAt.IsZero() || it.ExpiresAt.After(t0) || !it.ExpiresAt.Equal(it.StartedAt.Add(DefaultRetention)) {
			t.Errorf("dry run item %+v", it)
		}
	}
	after := e.files(t)
	if len(after) != len(before) {
		t.Errorf("dry run changed the files: %d before, %d after", len(before), len(after))
	}
	if n := e.count(t, `SELECT count(*) FROM recordings`); n != rows {
		t.Errorf("dry run changed the rows: %d before, %d after", rows, n)
	}
	if n := e.count(t, `SELECT count(*) FROM purge_log`); n != 0 {
		t.Errorf("dry run wrote %d purge log rows", n)
	}
}

// checkMidPurge checks what must hold at any point of a purge: no file
// without its row, no recording logged twice or both logged and present,
// and exactly the first logged batches logged.
func (e *env) checkMidPurge(t *testing.T, sd *seeded, logged int) {
	t.Helper()
	files := e.files(t)
	rels := map[string]bool{}
	rows, err := e.db.Reader().QueryContext(t.Context(), `SELECT rel_path FROM recordings`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var rel string
		if err := rows.Scan(&rel); err != nil {
			t.Fatal(err)
		}
		rels[rel] = true
	}
	rows.Close()
	for f := range files {
		if !rels[strings.TrimSuffix(f, audiofile.PartSuffix)] {
			t.Errorf("file %s has no row", f)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM purge_log p JOIN recordings r ON r.id = p.recording_id`); n != 0 {
		t.Errorf("%d recordings both logged and present", n)
	}
	log, err := e.s.PurgeLog(t.Context(), MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(log) - 1; i >= 0; i-- {
		got = append(got, log[i].RecordingID)
	}
	if !sameIDs(got, sd.expired[:logged]) {
		t.Errorf("purge log %v, want %v", got, sd.expired[:logged])
	}
}

func TestPurgeFailsBeforeCommit(t *testing.T) {
	e := newEnv(t)
	sd := seed(t, e)
	e.s.purgeBatch = 3
	boom := errors.New("disk gone")
	e.s.purgeHook = func(step purgeStep, n int) error {
		if step == stepCommit && n == 2 {
			return boom
		}
		return nil
	}
	rep, err := e.s.Purge(t.Context(), false)
	if !errors.Is(err, boom) {
		t.Fatalf("Purge = %v, want %v", err, boom)
	}
	if len(rep.Items) != 3 {
		t.Errorf("report lists %d purged, want the first batch (3)", len(rep.Items))
	}
	// The second batch's files are gone, its rows are not.
	for _, id := range sd.expired[3:6] {
		if rel := e.relPath(t, id); exists(t, filepath.Join(e.dir, filepath.FromSlash(rel))) {
			t.Errorf("file of %s still there", id)
		}
	}
	e.checkMidPurge(t, sd, 3)

	e.reopen(t) // a restart, without the failure
	if _, err := e.s.Purge(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	e.checkPurged(t, sd)
}

func TestPurgeKilled(t *testing.T) {
	tests := []struct {
		name   string
		step   purgeStep
		n      int
		logged int // recordings in the purge log when it dies
	}{
		{"between batches", stepBatch, 3, 6},
		{"while deleting files", stepFile, 2, 0},
		{"before the first commit", stepCommit, 1, 0},
		{"before the last commit", stepCommit, 4, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			sd := seed(t, e)
			runChild(t, childSpec{DB: e.db.Path(), Dir: e.dir, Now: t0, Mode: "purge",
				Batch: 3, Step: tt.step, N: tt.n})
			e.checkMidPurge(t, sd, tt.logged)
			e.reopen(t)
			if _, err := e.s.Purge(t.Context(), false); err != nil {
				t.Fatal(err)
			}
			e.checkPurged(t, sd)
		})
	}
}

func TestPurgeCancelled(t *testing.T) {
	e := newEnv(t)
	sd := seed(t, e)
	e.s.purgeBatch = 3
	ctx, cancel := context.WithCancel(t.Context())
	e.s.purgeHook = func(step purgeStep, n int) error {
		if step == stepBatch && n == 2 {
			cancel()
		}
		return nil
	}
	if _, err := e.s.Purge(ctx, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("Purge = %v, want context.Canceled", err)
	}
	e.checkMidPurge(t, sd, 3)
	e.s.purgeHook = nil
	if _, err := e.s.Purge(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	e.checkPurged(t, sd)
}

func TestPurgeQuarantine(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	qdir := filepath.Join(e.dir, QuarantineDir)
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, mod time.Time) string {
		p := filepath.Join(qdir, name)
		if err := os.WriteFile(p, []byte("leftover"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := write("old.wav.part", t0.Add(-DefaultRetention-time.Hour))
	recent := write("recent.wav.part", t0.Add(-time.Hour))
	// A damaged recording's leftover goes with its row, not by its age.
	id := e.record(t, "call-d", t0.Add(-time.Hour), 60)
	owned := write("owned.wav.part", t0.Add(-DefaultRetention-time.Hour))
	e.exec(t, `UPDATE recordings SET state = 'damaged', rel_path = ? WHERE id = ?`, QuarantineDir+"/owned.wav.part", id)

	rep, err := e.s.Purge(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Quarantine) != 1 || rep.Quarantine[0] != QuarantineDir+"/old.wav.part" || !exists(t, old) {
		t.Errorf("dry run: quarantine %v, old file exists %v", rep.Quarantine, exists(t, old))
	}
	rep, err = e.s.Purge(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Quarantine) != 1 || exists(t, old) || !exists(t, recent) || !exists(t, owned) {
		t.Errorf("purge: quarantine %v; old %v recent %v owned %v", rep.Quarantine, exists(t, old), exists(t, recent), exists(t, owned))
	}
	// Once the damaged recording expires, its leftover goes with it.
	e.clock.Set(t0.Add(DefaultRetention))
	rep, err = e.s.Purge(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(ids(rep.Items), []string{id}) || exists(t, owned) {
		t.Errorf("purge of the damaged recording: %v, leftover exists %v", ids(rep.Items), exists(t, owned))
	}
}

func TestPurgeKeepsUndeletableFile(t *testing.T) {
	e := newEnv(t)
	old := e.record(t, "call-1", t0.Add(-200*day), 60)
	other := e.record(t, "call-2", t0.Add(-199*day), 60)
	// The first recording's path is a non-empty directory: it cannot be
	// removed, whoever runs the test.
	p := filepath.Join(e.dir, filepath.FromSlash(e.relPath(t, old)))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0)
	rep, err := e.s.Purge(t.Context(), false)
	if err == nil {
		t.Fatal("Purge hid the failed deletion")
	}
	if !sameIDs(ids(rep.Items), []string{other}) {
		t.Errorf("purged %v, want only %s", ids(rep.Items), other)
	}
	if _, err := e.s.Get(t.Context(), old); err != nil {
		t.Errorf("recording whose file could not be deleted: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM purge_log WHERE recording_id = ?`, old); n != 0 {
		t.Errorf("recording whose file could not be deleted is in the purge log")
	}
}

func TestRunPurger(t *testing.T) {
	e := newEnv(t)
	old := e.record(t, "call-1", t0.Add(-200*day), 60)
	e.clock.Set(t0)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		e.s.RunPurger(ctx, 10*time.Millisecond)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for e.count(t, `SELECT count(*) FROM purge_log WHERE recording_id = ?`, old) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunPurger did not purge at start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A recording that expires later goes at a later tick.
	later := e.record(t, "call-2", t0.Add(-179*day), 60)
	e.clock.Set(t0.Add(2 * day))
	for e.count(t, `SELECT count(*) FROM purge_log WHERE recording_id = ?`, later) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunPurger did not purge on its tick")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPurger did not return after cancel")
	}
}

// A recording left in state recording past its expiry (the process that
// wrote it died and no start-up recovered it, or its completion could not
// be stored) is purged with its temporary file; one this process is still
// writing is not.
func TestPurgeStaleRecording(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.clock.Set(t0.Add(-200 * day))
	cid := e.consent(t, "call-stale", ivr.ConsentAccepted)
	stale, err := e.s.Create(ctx, meta("call-stale", cid, t0.Add(-200*day)))
	if err != nil {
		t.Fatal(err)
	}
	staleID := stale.ID()
	part := filepath.Join(e.dir, filepath.FromSlash(e.relPath(t, staleID))) + audiofile.PartSuffix
	if !exists(t, part) {
		t.Fatalf("no temporary file %s", part)
	}
	e.s.clearActive(staleID) // as if its process had died
	cid2 := e.consent(t, "call-live", ivr.ConsentAccepted)
	live, err := e.s.Create(ctx, meta("call-live", cid2, t0.Add(-200*day)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Abort(context.Background()) })
	e.clock.Set(t0)

	rep, err := e.s.Purge(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Items); !sameIDs(got, []string{staleID}) {
		t.Errorf("purged %v, want only the stale %s", got, staleID)
	}
	if exists(t, part) {
		t.Errorf("temporary file %s still there", part)
	}
	if _, err := e.s.Get(ctx, staleID); !errors.Is(err, ErrNotFound) {
		t.Errorf("stale row: %v, want ErrNotFound", err)
	}
	if _, err := e.s.Get(ctx, live.ID()); err != nil {
		t.Errorf("recording being written was purged: %v", err)
	}
}

// The purger wakes up when the next recording expires, not only every
// interval: a recording is never kept past its expires_at for longer than
// the purge takes.
func TestNextPurge(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if got := e.s.nextPurge(ctx, time.Hour, false); got != time.Hour {
		t.Errorf("empty store: next purge in %v, want the interval", got)
	}
	e.record(t, "call-soon", t0.Add(-DefaultRetention+10*time.Minute), 1)
	e.record(t, "call-later", t0.Add(-DefaultRetention+20*time.Minute), 1)
	e.record(t, "call-past", t0.Add(-DefaultRetention-time.Hour), 1) // expired, awaiting the purge
	e.clock.Set(t0)
	if got := e.s.nextPurge(ctx, time.Hour, false); got != 10*time.Minute {
		t.Errorf("next purge in %v, want 10m (the next expiry)", got)
	}
	if got := e.s.nextPurge(ctx, 5*time.Minute, false); got != 5*time.Minute {
		t.Errorf("next purge in %v, want the 5m interval", got)
	}
	// A purge that deleted some while others expired meanwhile goes on at
	// once; one that could delete nothing waits for the interval.
	if got := e.s.nextPurge(ctx, time.Hour, true); got != minPurgeWait {
		t.Errorf("after progress with expired left: next purge in %v, want %v", got, minPurgeWait)
	}
}

// A purge is paced: it deletes no faster than purgeRate.
func TestPurgePaced(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		e.record(t, fmt.Sprintf("call-%02d", i), t0.Add(-200*day+time.Duration(i)*time.Second), 1)
	}
	e.clock.Set(t0)
	e.s.purgeBatch, e.s.purgeRate = 10, 100
	start := time.Now()
	rep, err := e.s.Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	// 30 at 100/s: the third batch cannot start before 200 ms.
	if took := time.Since(start); len(rep.Items) != 30 || took < 200*time.Millisecond {
		t.Errorf("purged %d in %v, want 30 in at least 200ms", len(rep.Items), took)
	}
}

// Recordings that expire while a purge runs are purged right after it,
// not an interval later.
func TestRunPurgerCatchesUp(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Now = time.Now })
	e.s.purgeBatch, e.s.purgeRate = 50, 500
	cid := e.consent(t, "call-catch-up", ivr.ConsentAccepted)
	now := time.Now()
	// 200 already expired (a purge of them takes 0.4 s at 500/s), 100 that
	// expire within its first 0.2 s.
	err := e.db.Write(t.Context(), func(tx *sql.Tx) error {
		for i := range 300 {
			exp := now.Add(-time.Minute)
			if i >= 200 {
				exp = now.Add(time.Duration(i-200) * 2 * time.Millisecond)
			}
			id := fmt.Sprintf("catch-up-%03d", i)
			rel := "2026/01/01/" + id + ".wav"
			p := filepath.Join(e.dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO recordings (id, call_id, consent_id, started_at,
				ended_at, size, sha256, rel_path, state, expires_at)
				VALUES (?, 'call-catch-up', ?, ?, ?, 1, ?, ?, 'complete', ?)`,
				id, cid, store.FormatTime(exp.Add(-time.Hour)), store.FormatTime(exp.Add(-time.Hour)),
				strings.Repeat("0", 64), rel, store.FormatTime(exp)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); e.s.RunPurger(ctx, time.Hour) }()
	defer func() { cancel(); <-done }()
	var left int
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		if err := e.db.Reader().QueryRow(`SELECT COUNT(*) FROM recordings`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
	}
	t.Errorf("%d recordings left 5 s after they expired", left)
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// retentionFixture is a database file with rows on both sides of the
// retention (180 days before t0): those named gone-* must go, those named
// kept-* must stay.
type retentionFixture struct {
	t    *testing.T
	path string
	db   *DB
}

var (
	old    = t0.Add(-200 * day) // well past the retention
	recent = t0.Add(-10 * day)
	cutoff = t0.Add(-180 * day)
)

func newRetentionFixture(t *testing.T) *retentionFixture {
	t.Helper()
	f := &retentionFixture{t: t, path: filepath.Join(t.TempDir(), "ivrd.db")}
	f.open()
	t.Cleanup(func() { f.db.Close() })
	return f
}

func (f *retentionFixture) open() {
	f.t.Helper()
	db, err := Open(f.t.Context(), f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	f.db = db
}

func (f *retentionFixture) exec(query string, args ...any) {
	f.t.Helper()
	if err := f.db.Write(f.t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(f.t.Context(), query, args...)
		return err
	}); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

func opt(t *time.Time) any {
	if t == nil {
		return nil
	}
	return FormatTime(*t)
}

func at(t time.Time) *time.Time { return &t }

// call saves a call record with its visits.
func (f *retentionFixture) call(id string, start time.Time, end *time.Time) {
	f.t.Helper()
	c := sampleCall(id, start)
	c.EndedAt = end
	if err := NewCallLog(f.db).SaveCall(f.t.Context(), c); err != nil {
		f.t.Fatal(err)
	}
}

type contactRow struct {
	id, channel, state, callID string
	enqueued                   time.Time
	left, ended                *time.Time
}

func (f *retentionFixture) contact(c contactRow) {
	f.t.Helper()
	if c.channel == "" {
		c.channel = "voice"
	}
	f.exec(`INSERT INTO contacts (id, channel, queue, call_id, caller, state, enqueued_at, left_at, ended_at, agent)
		VALUES (?, ?, 'support', ?, '+33612345678', ?, ?, ?, ?, 'alice')`,
		c.id, c.channel, c.callID, c.state, FormatTime(c.enqueued), opt(c.left), opt(c.ended))
}

type callbackRow struct {
	id, state, requestCallID string
	requested                time.Time
	completed                *time.Time
	attempts                 []string // the customer's call of each attempt
}

func (f *retentionFixture) callback(c callbackRow) {
	f.t.Helper()
	f.exec(`INSERT INTO callbacks (id, number, queue, mode, max_attempts, state, attempts, requested_at, completed_at, request_call_id)
		VALUES (?, ?, 'support', 'agent_first', 3, ?, ?, ?, ?, ?)`,
		c.id, "+3361234"+c.id, c.state, len(c.attempts), FormatTime(c.requested), opt(c.completed), c.requestCallID)
	for i, callID := range c.attempts {
		f.exec(`INSERT INTO callback_attempts (callback_id, attempt, started_at, ended_at, result, call_id, agent)
			VALUES (?, ?, ?, ?, 'no_answer', ?, 'alice')`,
			c.id, i+1, FormatTime(c.requested), FormatTime(c.requested.Add(time.Minute)), callID)
	}
}

// recording stores a recording of callID (expired, not yet purged, or
// held).
func (f *retentionFixture) recording(callID string, held bool) {
	f.t.Helper()
	f.exec(`INSERT INTO consents (id, call_id, at, choice) VALUES (?, ?, ?, 'accepted')`,
		"consent-"+callID, callID, FormatTime(old))
	var by, reason, heldAt any
	if held {
		by, reason, heldAt = "dpo", "dispute 2025-118", FormatTime(recent)
	}
	f.exec(`INSERT INTO recordings (id, call_id, consent_id, started_at, rel_path, expires_at, hold_by, hold_reason, hold_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		"rec-"+callID, callID, "consent-"+callID, FormatTime(old), "2025/01/"+callID+".wav",
		FormatTime(old.Add(180*day)), by, reason, heldAt)
}

func (f *retentionFixture) offer(at time.Time) {
	f.t.Helper()
	f.exec(`INSERT INTO callback_offers (queue, at) VALUES ('support', ?)`, FormatTime(at))
}

// seed writes every case.
func (f *retentionFixture) seed() {
	f.t.Helper()
	// Call records.
	f.call("gone-call-ended", old, at(old.Add(3*time.Minute)))
	f.call("gone-call-unended", old, nil) // left open by a crash
	f.call("gone-call-callback-done", old, at(old.Add(time.Minute)))
	f.call("kept-call-recent", recent, at(recent.Add(time.Minute)))
	f.call("kept-call-ended-late", cutoff.Add(-time.Hour), at(cutoff.Add(time.Hour)))
	f.call("kept-call-recorded", old, at(old.Add(time.Minute)))
	f.recording("kept-call-recorded", false) // expired, the recordings' purge has not run yet
	f.call("kept-call-held", old, at(old.Add(time.Minute)))
	f.recording("kept-call-held", true)
	f.call("kept-call-waiting", old, nil)
	f.call("kept-call-callback", old, at(old.Add(time.Minute)))

	// Contacts.
	f.contact(contactRow{id: "gone-contact-abandoned", state: "abandoned", callID: "gone-call-ended", enqueued: old, left: at(old.Add(time.Minute))})
	f.contact(contactRow{id: "gone-contact-talked", state: "connected", enqueued: old, left: at(old.Add(time.Minute)), ended: at(old.Add(9 * time.Minute))})
	f.contact(contactRow{id: "gone-contact-chat", channel: "chat", state: "transferred", enqueued: old, left: at(old)})
	f.contact(contactRow{id: "kept-contact-waiting", channel: "chat", state: "waiting", callID: "kept-call-waiting", enqueued: old})
	f.contact(contactRow{id: "kept-contact-talking", channel: "email", state: "connected", enqueued: old, left: at(old)})
	f.contact(contactRow{id: "kept-contact-ended-late", state: "connected", enqueued: old, left: at(old), ended: at(recent)})
	f.contact(contactRow{id: "kept-contact-recent", channel: "chat", state: "closed", enqueued: recent, left: at(recent)})
	f.contact(contactRow{id: "kept-contact-recorded", state: "connected", callID: "rec-call", enqueued: old, left: at(old), ended: at(old.Add(time.Minute))})
	f.recording("rec-call", false)

	// Callback requests: a contact of channel callback and a callbacks
	// row sharing its id.
	f.contact(contactRow{id: "gone-cb-done", channel: "callback", state: "connected", callID: "cb-call-2", enqueued: old, left: at(old.Add(time.Hour)), ended: at(old.Add(2 * time.Hour))})
	f.callback(callbackRow{id: "gone-cb-done", state: "completed", requestCallID: "gone-call-callback-done", requested: old,
		completed: at(old.Add(2 * time.Hour)), attempts: []string{"cb-call-1", "cb-call-2"}})
	f.contact(contactRow{id: "kept-cb-pending", channel: "callback", state: "waiting", enqueued: old})
	f.callback(callbackRow{id: "kept-cb-pending", state: "pending", requestCallID: "kept-call-callback", requested: old, attempts: []string{"cb-call-3"}})
	f.contact(contactRow{id: "kept-cb-active", channel: "callback", state: "connected", callID: "cb-call-4", enqueued: old, left: at(old), ended: at(old)})
	f.callback(callbackRow{id: "kept-cb-active", state: "active", requested: old, attempts: []string{"cb-call-4"}})
	f.contact(contactRow{id: "kept-cb-recent", channel: "callback", state: "closed", enqueued: old, left: at(old)})
	f.callback(callbackRow{id: "kept-cb-recent", state: "failed", requested: old, completed: at(recent)})
	f.contact(contactRow{id: "kept-cb-recorded", channel: "callback", state: "closed", enqueued: old, left: at(old)})
	f.callback(callbackRow{id: "kept-cb-recorded", state: "failed", requested: old, completed: at(old), attempts: []string{"cb-rec-call", "cb-call-5"}})
	f.recording("cb-rec-call", false)
	// Requests whose contact row is gone.
	f.callback(callbackRow{id: "gone-orphan-cb", state: "cancelled", requested: old, completed: at(old), attempts: []string{"cb-call-6"}})
	f.callback(callbackRow{id: "kept-orphan-pending", state: "pending", requested: old})
	f.callback(callbackRow{id: "kept-orphan-recent", state: "cancelled", requested: recent, completed: at(recent)})

	// Callback offers.
	f.offer(old)
	f.offer(old.Add(time.Hour))
	f.offer(recent)
}

// ids lists the ids of a table, sorted.
func (f *retentionFixture) ids(query string) []string {
	f.t.Helper()
	rows, err := f.db.Reader().QueryContext(context.WithoutCancel(f.t.Context()), query)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// snapshot is every row the purge may touch.
func (f *retentionFixture) snapshot() map[string][]string {
	return map[string][]string{
		"calls":             f.ids(`SELECT id FROM calls`),
		"visits":            f.ids(`SELECT call_id || '/' || seq FROM visits`),
		"contacts":          f.ids(`SELECT id FROM contacts`),
		"callbacks":         f.ids(`SELECT id FROM callbacks`),
		"callback_attempts": f.ids(`SELECT callback_id || '/' || attempt FROM callback_attempts`),
		"callback_offers":   f.ids(`SELECT at FROM callback_offers`),
		"recordings":        f.ids(`SELECT id FROM recordings`),
		"consents":          f.ids(`SELECT id FROM consents`),
	}
}

func (f *retentionFixture) purger(batch int) *Purger {
	f.t.Helper()
	p, err := NewPurger(f.db, PurgerConfig{Retention: 180 * day, Batch: batch, Now: func() time.Time { return t0 }, Logger: quietLog})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// checkKept fails unless every gone-* row is gone and every kept-* row
// is there.
func (f *retentionFixture) checkKept(table string, ids []string, want []string) {
	f.t.Helper()
	if !slices.Equal(ids, want) {
		f.t.Errorf("%s after the purge:\n got %v\nwant %v", table, ids, want)
	}
}

func TestPurgeCallRecords(t *testing.T) {
	f := newRetentionFixture(t)
	f.seed()
	before := f.snapshot()
	want := PurgeReport{Before: cutoff, Calls: 3, Contacts: 4, Callbacks: 2, CallbackAttempts: 3, CallbackOffers: 2}

	// A dry run counts and changes nothing.
	dry, err := f.purger(0).Purge(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	wantDry := want
	wantDry.DryRun = true
	if dry != wantDry {
		t.Errorf("dry run %+v\nwant      %+v", dry, wantDry)
	}
	if after := f.snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the dry run changed the store:\n%v\n%v", before, after)
	}

	// Batches of 2 rows: the purge goes on until none is left.
	rep, err := f.purger(2).Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep != want {
		t.Errorf("purge %+v\nwant  %+v", rep, want)
	}

	// What stays is on disk: the file is read again.
	f.db.Close()
	f.open()
	after := f.snapshot()
	f.checkKept("calls", after["calls"], []string{
		"kept-call-callback", "kept-call-ended-late", "kept-call-held", "kept-call-recent", "kept-call-recorded", "kept-call-waiting",
	})
	var visits []string
	for _, id := range after["calls"] {
		visits = append(visits, id+"/0", id+"/1")
	}
	slices.Sort(visits)
	f.checkKept("visits", after["visits"], visits)
	f.checkKept("contacts", after["contacts"], []string{
		"kept-cb-active", "kept-cb-pending", "kept-cb-recent", "kept-cb-recorded",
		"kept-contact-ended-late", "kept-contact-recent", "kept-contact-recorded", "kept-contact-talking", "kept-contact-waiting",
	})
	f.checkKept("callbacks", after["callbacks"], []string{
		"kept-cb-active", "kept-cb-pending", "kept-cb-recent", "kept-cb-recorded", "kept-orphan-pending", "kept-orphan-recent",
	})
	f.checkKept("callback_attempts", after["callback_attempts"], []string{
		"kept-cb-active/1", "kept-cb-pending/1", "kept-cb-recorded/1", "kept-cb-recorded/2",
	})
	f.checkKept("callback_offers", after["callback_offers"], []string{FormatTime(recent)})
	// Recordings and their consents are the recordings' purge's.
	f.checkKept("recordings", after["recordings"], before["recordings"])
	f.checkKept("consents", after["consents"], before["consents"])

	// Nothing is left to purge.
	again, err := f.purger(0).Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Total() != 0 {
		t.Errorf("second purge %+v", again)
	}

	// Once the recordings' purge deleted the expired recordings (the held
	// one stays), their calls and contacts go at the next purge.
	f.exec(`DELETE FROM recordings WHERE hold_by IS NULL`)
	rep, err = f.purger(0).Purge(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Calls != 1 || rep.Contacts != 2 || rep.Callbacks != 1 || rep.CallbackAttempts != 2 {
		t.Errorf("purge after the recordings went: %+v", rep)
	}
	calls := f.ids(`SELECT id FROM calls`)
	if slices.Contains(calls, "kept-call-recorded") || !slices.Contains(calls, "kept-call-held") {
		t.Errorf("calls after the recordings went: %v", calls)
	}
	contacts := f.ids(`SELECT id FROM contacts`)
	if slices.Contains(contacts, "kept-contact-recorded") || slices.Contains(contacts, "kept-cb-recorded") {
		t.Errorf("contacts after the recordings went: %v", contacts)
	}
}

// The purge reads the expired rows through indexes, not by scanning the
// tables, which grow with every call.
func TestPurgeUsesIndexes(t *testing.T) {
	f := newRetentionFixture(t)
	for _, tt := range []struct{ name, query, index string }{
		{"calls", `SELECT c.id ` + expiredCalls + ` ORDER BY c.started_at LIMIT ?2`, "calls_started_at"},
		{"contacts", `SELECT k.id ` + expiredContacts + ` ORDER BY k.left_at LIMIT ?2`, "contacts_left"},
		{"callbacks", `SELECT cb.id ` + orphanCallbacks + ` ORDER BY cb.requested_at LIMIT ?2`, "callbacks_state"},
		{"offers", `SELECT o.id ` + expiredOffers + ` ORDER BY o.at LIMIT ?2`, "callback_offers_at"},
	} {
		rows, err := f.db.Reader().QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+tt.query, FormatTime(cutoff), 10)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "USING INDEX "+tt.index) && !strings.Contains(text, "USING COVERING INDEX "+tt.index) {
			t.Errorf("%s: the purge does not read %s:\n%s", tt.name, tt.index, text)
		}
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "INDEX") && !strings.Contains(line, "LIST SUBQUERY") {
				t.Errorf("%s: a table scan: %q\n%s", tt.name, line, text)
			}
		}
	}
}

func TestPurgerRefusesAShortRetention(t *testing.T) {
	f := newRetentionFixture(t)
	for _, d := range []time.Duration{0, -day, day, MinCallRetention - time.Second} {
		if _, err := NewPurger(f.db, PurgerConfig{Retention: d}); err == nil {
			t.Errorf("retention %v accepted", d)
		}
	}
	if _, err := NewPurger(f.db, PurgerConfig{Retention: MinCallRetention}); err != nil {
		t.Errorf("retention %v: %v", MinCallRetention, err)
	}
}

// Run purges at once, then every interval, until its context ends.
func TestPurgerRun(t *testing.T) {
	f := newRetentionFixture(t)
	f.call("gone-call", old, at(old.Add(time.Minute)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.purger(0).Run(ctx, time.Hour)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.ids(`SELECT id FROM calls`)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not purge at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

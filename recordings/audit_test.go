package recordings

import (
	"database/sql"
	"errors"
	"testing"
	"time"
)

func TestAudit(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.watchSync(t, "INSERT", "access_audit")
	entries := []AuditEntry{
		{User: "alice", Role: "agent", Action: "listen", RecordingID: "r1", CallID: "c1", Remote: "192.0.2.1:5000", Outcome: OutcomeOK},
		{User: "alice", Role: "agent", Action: "listen", RecordingID: "r2", CallID: "c2", Remote: "192.0.2.1:5001", Outcome: OutcomeDenied, Detail: "not her call"},
		{Action: "search", Remote: "198.51.100.7:4000", Outcome: OutcomeUnauthenticated},
		{User: "sup", Role: "supervisor", Action: "metadata", RecordingID: "r9", Remote: "192.0.2.2:1", Outcome: OutcomeNotFound},
		{User: "sup", Role: "supervisor", Action: "metadata", Remote: "192.0.2.2:1", Outcome: OutcomeError, Detail: "GET /api/recordings/..%2f"},
	}
	for i, en := range entries {
		e.clock.Set(t0.Add(time.Duration(i) * time.Minute))
		if err := e.s.Audit(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	e.checkDurable(t, "access_audit", len(entries))

	all, err := e.s.AuditLog(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(entries) {
		t.Fatalf("%d audit rows, want %d", len(all), len(entries))
	}
	for i, got := range all { // newest first
		want := entries[len(entries)-1-i]
		want.ID = got.ID
		want.At = t0.Add(time.Duration(len(entries)-1-i) * time.Minute)
		if got != want {
			t.Errorf("row %d = %+v, want %+v", i, got, want)
		}
	}

	tests := []struct {
		name string
		f    AuditFilter
		want int
	}{
		{"user", AuditFilter{User: "alice"}, 2},
		{"recording", AuditFilter{RecordingID: "r2"}, 1},
		{"call", AuditFilter{CallID: "c1"}, 1},
		{"outcome", AuditFilter{Outcome: OutcomeUnauthenticated}, 1},
		{"action", AuditFilter{Action: "listen"}, 2},
		{"from", AuditFilter{From: t0.Add(2 * time.Minute)}, 3},
		{"to", AuditFilter{To: t0.Add(time.Minute)}, 1},
		{"error", AuditFilter{Outcome: OutcomeError}, 1},
		{"limit", AuditFilter{Limit: 3}, 3},
		{"offset", AuditFilter{Offset: 3}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.s.AuditLog(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("AuditLog(%+v) = %d rows, want %d", tt.f, len(got), tt.want)
			}
		})
	}

	for _, bad := range []AuditEntry{{Outcome: OutcomeOK}, {Action: "get"}, {Action: "get", Outcome: "maybe"}} {
		if err := e.s.Audit(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Audit(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	// The audit is never rewritten.
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE access_audit SET outcome = 'ok'`)
		return err
	})
	if err == nil {
		t.Error("an audit row was updated")
	}
}

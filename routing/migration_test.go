package routing

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
)

// Migration 0006 rebuilds the contacts table: a database written before
// it keeps its contacts, their order and its indexes.
func TestMigrationKeepsContacts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ivrd.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../store/migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
		name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		v, _ := strconv.Atoi(base[:4])
		if v >= 6 {
			break
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, v, base); err != nil {
			t.Fatal(err)
		}
	}
	for _, row := range []string{
		`('c2', 'voice', 'sales', 'waiting', '2025-06-02T09:00:00.000000000Z', NULL, NULL, '')`,
		`('c1', 'chat', 'web', 'waiting', '2025-06-02T09:00:00.000000000Z', NULL, NULL, '')`,
		`('c3', 'voice', 'sales', 'connected', '2025-06-02T08:00:00.000000000Z', '2025-06-02T08:00:42.000000000Z', 42000, 'alice')`,
	} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO contacts (id, channel, queue, state, enqueued_at, left_at, wait_ms, agent)
			VALUES `+row); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db := openDB(t, path) // migrates
	defer db.Close()
	q := mustNew(t, db, WithLogger(quiet), WithClock(newTestClock()))
	got, err := q.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "c2" || got[1].ID != "c1" {
		t.Errorf("waiting after migration %+v, want c2 then c1 (arrival order)", got)
	}
	var connectedAt, endedAt, agent string
	var waitMS int64
	var talkMS *int64
	if err := db.Reader().QueryRowContext(ctx, `SELECT connected_at, ended_at, talk_ms, agent, wait_ms FROM contacts WHERE id = 'c3'`).
		Scan(&connectedAt, &endedAt, &talkMS, &agent, &waitMS); err != nil {
		t.Fatal(err)
	}
	if connectedAt != "2025-06-02T08:00:42.000000000Z" || endedAt != connectedAt || talkMS != nil ||
		agent != "alice" || waitMS != 42000 {
		t.Errorf("connected contact: at %s ended %s talk %v agent %s wait %d", connectedAt, endedAt, talkMS, agent, waitMS)
	}
	// Recover leaves contacts of before the migration as they are.
	if _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	var endedBy string
	if err := db.Reader().QueryRowContext(ctx, `SELECT ended_at, ended_by FROM contacts WHERE id = 'c3'`).
		Scan(&endedAt, &endedBy); err != nil {
		t.Fatal(err)
	}
	if endedAt != connectedAt || endedBy != "" {
		t.Errorf("after Recover: ended %s by %q, want unchanged", endedAt, endedBy)
	}
	rows, err := db.Reader().QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var idx []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		idx = append(idx, n)
	}
	rows.Close()
	want := []string{"contacts_agent", "contacts_call_id", "contacts_ended", "contacts_left", "contacts_left_at", "contacts_waiting"}
	if !slices.Equal(idx, want) {
		t.Errorf("indexes %v, want %v", idx, want)
	}
	// The new state is accepted; the audit cannot be rewritten.
	w := enqueue(t, q, ivr.Contact{Queue: "sales"})
	if err := w.Leave(ctx, "transferred"); err != nil {
		t.Fatal(err)
	}
	if state, _, _, _ := contactRow(t, db, w.ContactID()); state != StateTransferred {
		t.Errorf("state %q, want transferred", state)
	}
	if err := q.SetAgentState(ctx, "nobody", AgentAway); err == nil {
		t.Error("unknown agent accepted")
	}
	err = db.Write(context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO agent_events (agent, at, state) VALUES ('a', 'x', 'away')`); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE agent_events SET state = 'busy'`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "never updated") {
		t.Errorf("update of agent_events = %v, want refused", err)
	}
}

// Migration 0007 adds the callback tables to a database that has
// contacts: they are kept, and one open request per number and queue is
// enforced by the schema itself.
func TestMigrationAddsCallbacks(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ivrd.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../store/migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
		name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		v, _ := strconv.Atoi(base[:4])
		if v >= 7 {
			break
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, v, base); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO contacts (id, channel, queue, state, enqueued_at)
		VALUES ('c1', 'chat', 'web', 'waiting', '2025-06-02T09:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db := openDB(t, path)
	defer db.Close()
	q := mustNew(t, db, WithLogger(quiet), WithClock(newTestClock()))
	if got, err := q.List(ctx, ""); err != nil || len(got) != 1 || got[0].ID != "c1" {
		t.Errorf("waiting after migration %+v %v", got, err)
	}
	cb, err := q.RequestCallback(ctx, newRequest("0612345678"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO callbacks (id, number, queue, mode, max_attempts, requested_at)
			VALUES ('other', '0612345678', 'sales', 'agent_first', 1, '2025-06-02T09:00:00.000000000Z')`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("second open request for %s beside %s: %v, want refused", "0612345678", cb.ID, err)
	}
}

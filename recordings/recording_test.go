package recordings

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

func TestSearch(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	// call-1 and call-2 from the same caller; call-3 from another.
	a := e.record(t, "call-1", t0, 60)
	b := e.record(t, "call-2", t0.Add(time.Hour), 60)
	cid := e.consent(t, "call-3", ivr.ConsentAccepted)
	m := meta("call-3", cid, t0.Add(2*time.Hour))
	m.Caller, m.Queue = "+33700000000", "support"
	f, err := e.s.Create(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c := f.ID()
	// Contacts: alice took call-1 and call-3, bob took call-2; a chat
	// contact of alice's has no call.
	for i, ct := range []struct{ call, agent string }{
		{"call-1", "alice"}, {"call-2", "bob"}, {"call-3", "alice"}, {"", "alice"},
	} {
		e.exec(t, `INSERT INTO contacts (id, channel, queue, call_id, agent, state, enqueued_at)
			VALUES (?, 'voice', 'support', ?, ?, 'connected', ?)`, fmt.Sprint("ct-", i), ct.call, ct.agent, store.FormatTime(t0))
	}

	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, newest first", Filter{}, []string{c, b, a}},
		{"call", Filter{CallID: "call-2"}, []string{b}},
		{"caller", Filter{Caller: "+33100000001"}, []string{b, a}},
		{"from", Filter{From: t0.Add(time.Hour)}, []string{c, b}},
		{"to", Filter{To: t0.Add(time.Hour)}, []string{a}},
		{"from and to", Filter{From: t0.Add(30 * time.Minute), To: t0.Add(90 * time.Minute)}, []string{b}},
		{"agent alice", Filter{Agent: "alice"}, []string{c, a}},
		{"agent bob", Filter{Agent: "bob"}, []string{b}},
		{"agent bob, another's call", Filter{Agent: "bob", CallID: "call-1"}, nil},
		{"unknown agent", Filter{Agent: "mallory"}, nil},
		{"limit", Filter{Limit: 2}, []string{c, b}},
		{"offset", Filter{Limit: 2, Offset: 2}, []string{a}},
		{"nothing", Filter{CallID: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.s.Search(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
			}
			if !sameIDs(gotIDs, tt.want) {
				t.Errorf("Search(%+v) = %v, want %v", tt.f, gotIDs, tt.want)
			}
		})
	}

	access := []struct {
		agent, id string
		want      bool
	}{
		{"alice", a, true},
		{"alice", c, true},
		{"alice", b, false},
		{"bob", b, true},
		{"bob", a, false},
		{"", a, false},
		{"alice", "no-such-recording", false},
	}
	for _, tt := range access {
		got, err := e.s.AgentMayAccess(ctx, tt.agent, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("AgentMayAccess(%q, %s) = %v, want %v", tt.agent, tt.id, got, tt.want)
		}
	}
}

func TestGetNotFound(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.Get(t.Context(), "nope")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound wrapping store.ErrNotFound", err)
	}
	if _, _, err := e.s.Open(t.Context(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open = %v, want ErrNotFound", err)
	}
}

func TestOpen(t *testing.T) {
	e := newEnv(t, encrypted)
	ctx := t.Context()
	id := e.record(t, "call-1", t0, 100)

	// Without the key, or with another, the audio stays sealed.
	for name, key := range map[string][]byte{"no key": nil, "wrong key": make([]byte, KeySize)} {
		e.cfg.Key = key
		s := e.reopen(t)
		_, _, err := s.Open(ctx, id)
		want := audiofile.ErrNoKey
		if key != nil {
			want = audiofile.ErrAuth
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: Open = %v, want %v", name, err, want)
		}
	}
	e.cfg.Key = testKey
	e.reopen(t)

	cid := e.consent(t, "call-2", ivr.ConsentAccepted)
	f, err := e.s.Create(ctx, meta("call-2", cid, t0))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort(ctx)
	if _, _, err := e.s.Open(ctx, f.ID()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open while recording = %v, want ErrUnavailable", err)
	}
	// No row can name a file outside the folder: the store refuses it, and
	// the service checks anyway.
	for _, rel := range []string{"../secret.wav", "/etc/passwd", "2026/../../secret.wav", ""} {
		err := e.db.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE recordings SET rel_path = ? WHERE id = ?`, rel, id)
			return err
		})
		if err == nil {
			t.Errorf("rel_path %q stored", rel)
		}
		if _, err := e.s.abs(rel); err == nil {
			t.Errorf("abs(%q) accepted", rel)
		}
	}
}

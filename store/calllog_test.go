package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

var t0 = time.Date(2025, 6, 2, 9, 30, 0, 123456789, time.UTC)

func sampleCall(id string, start time.Time) *ivr.CallRecord {
	return &ivr.CallRecord{
		ID:          id,
		Driver:      "sip",
		Caller:      "+33100000001",
		Dialled:     "3000",
		Flow:        "main",
		FlowVersion: "7",
		Language:    "fr",
		StartedAt:   start,
		Visits: []ivr.Visit{
			{Node: "welcome", Kind: ivr.KindPlay, At: start},
			{Node: "menu", Kind: ivr.KindMenu, At: start.Add(3 * time.Second), Result: "key 1"},
		},
		Digits: "1",
	}
}

func TestCallLogRoundTrip(t *testing.T) {
	ctx := t.Context()
	log := NewCallLog(openTest(t))

	r := sampleCall("call-1", t0)
	if err := log.SaveCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := log.GetCall(ctx, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	assertCall(t, got, r)

	// The engine saves again at handoff and at the end: same id, more data.
	end := t0.Add(95 * time.Second)
	r.Visits = append(r.Visits, ivr.Visit{Node: "sales", Kind: ivr.KindQueue, At: t0.Add(5 * time.Second), Result: "connected"})
	r.Digits = "12#"
	r.Outcome = ivr.OutcomeConnected
	r.Queue = "sales"
	r.ContactID = "c-1"
	r.QueueWait = 42 * time.Second
	queued, connected := t0.Add(5*time.Second), t0.Add(47*time.Second)
	r.QueuedAt, r.ConnectedAt = &queued, &connected
	r.Agent = "alice"
	r.Talk = 48 * time.Second
	r.EndedBy = ivr.EndedByAgent
	r.Vars = map[string]string{"account": "1234", "lang": "fr"}
	r.EndedAt = &end
	r.Error = ""
	if err := log.SaveCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err = log.GetCall(ctx, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	assertCall(t, got, r)

	// Fewer visits on a later save must not leave stale rows behind.
	r.Visits = r.Visits[:1]
	if err := log.SaveCall(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err = log.GetCall(ctx, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	assertCall(t, got, r)

	var rows int
	if err := log.db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM calls`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d call rows after three saves of one call, want 1", rows)
	}
}

func assertCall(t *testing.T, got, want *ivr.CallRecord) {
	t.Helper()
	norm := func(r ivr.CallRecord) ivr.CallRecord {
		r.StartedAt = r.StartedAt.UTC()
		for _, p := range []**time.Time{&r.EndedAt, &r.QueuedAt, &r.ConnectedAt} {
			if *p != nil {
				e := (*p).UTC()
				*p = &e
			}
		}
		vs := make([]ivr.Visit, len(r.Visits))
		for i, v := range r.Visits {
			v.At = v.At.UTC()
			vs[i] = v
		}
		r.Visits = vs
		if len(r.Vars) == 0 {
			r.Vars = nil
		}
		return r
	}
	g, w := norm(*got), norm(*want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("call mismatch\n got: %+v\nwant: %+v", g, w)
	}
}

func TestGetCallNotFound(t *testing.T) {
	log := NewCallLog(openTest(t))
	_, err := log.GetCall(t.Context(), "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetCall = %v, want ErrNotFound", err)
	}
}

func TestSaveCallRejectsEmptyID(t *testing.T) {
	log := NewCallLog(openTest(t))
	if err := log.SaveCall(t.Context(), &ivr.CallRecord{StartedAt: t0}); err == nil {
		t.Fatal("SaveCall with empty id succeeded")
	}
}

func TestListCalls(t *testing.T) {
	ctx := t.Context()
	log := NewCallLog(openTest(t))
	// c0 oldest ... c9 newest, one minute apart; odd calls from another
	// caller; every third call connected.
	for i := range 10 {
		r := sampleCall(fmt.Sprintf("c%d", i), t0.Add(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			r.Caller = "+33100000002"
		}
		if i%3 == 0 {
			r.Outcome = ivr.OutcomeConnected
			r.Agent = "alice"
		} else {
			r.Outcome = ivr.OutcomeHungUpInIVR
		}
		if err := log.SaveCall(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name   string
		filter CallFilter
		want   []string
	}{
		{"all newest first", CallFilter{}, []string{"c9", "c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1", "c0"}},
		{"caller", CallFilter{Caller: "+33100000002"}, []string{"c9", "c7", "c5", "c3", "c1"}},
		{"outcome", CallFilter{Outcome: ivr.OutcomeConnected}, []string{"c9", "c6", "c3", "c0"}},
		{"caller and outcome", CallFilter{Caller: "+33100000001", Outcome: ivr.OutcomeConnected}, []string{"c6", "c0"}},
		{"agent", CallFilter{Agent: "alice"}, []string{"c9", "c6", "c3", "c0"}},
		{"agent and caller", CallFilter{Agent: "alice", Caller: "+33100000002"}, []string{"c9", "c3"}},
		{"another agent", CallFilter{Agent: "bob"}, []string{}},
		{"since inclusive", CallFilter{Since: at(7)}, []string{"c9", "c8", "c7"}},
		{"until exclusive", CallFilter{Until: at(2)}, []string{"c1", "c0"}},
		{"since and until", CallFilter{Since: at(3), Until: at(5)}, []string{"c4", "c3"}},
		{"since in another zone", CallFilter{Since: at(8).In(time.FixedZone("NY", -5*3600))}, []string{"c9", "c8"}},
		{"limit", CallFilter{Limit: 3}, []string{"c9", "c8", "c7"}},
		{"limit and offset", CallFilter{Limit: 3, Offset: 3}, []string{"c6", "c5", "c4"}},
		{"offset past the end", CallFilter{Offset: 10}, []string{}},
		{"no match", CallFilter{Caller: "nobody"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, err := log.ListCalls(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, c := range calls {
				got = append(got, c.ID)
				if len(c.Visits) != 2 {
					t.Errorf("%s: %d visits, want 2", c.ID, len(c.Visits))
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListCalls(%+v) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestListCallsLimitIsCapped(t *testing.T) {
	ctx := t.Context()
	log := NewCallLog(openTest(t))
	for i := range MaxLimit + 5 {
		r := &ivr.CallRecord{ID: fmt.Sprintf("c%04d", i), StartedAt: t0.Add(time.Duration(i) * time.Second)}
		if err := log.SaveCall(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ limit, want int }{{0, DefaultLimit}, {MaxLimit + 100, MaxLimit}, {7, 7}} {
		calls, err := log.ListCalls(ctx, CallFilter{Limit: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != tt.want {
			t.Errorf("Limit %d: %d calls, want %d", tt.limit, len(calls), tt.want)
		}
	}
}

func BenchmarkSaveCall(b *testing.B) {
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "ivrd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	log := NewCallLog(db)
	r := sampleCall("bench", t0)
	b.ReportAllocs()
	for b.Loop() {
		if err := log.SaveCall(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

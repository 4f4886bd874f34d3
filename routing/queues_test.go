package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openDB(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newQueues(t testing.TB) (*Queues, *clock, *store.DB) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "ivrd.db"))
	t.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)}
	return New(db, WithClock(clk.Now), WithLogger(quiet)), clk, db
}

func contactRow(t *testing.T, db *store.DB, id string) (state, reason string, waitMS *int64, leftAt *string) {
	t.Helper()
	err := db.Reader().QueryRowContext(t.Context(),
		`SELECT state, reason, wait_ms, left_at FROM contacts WHERE id = ?`, id).Scan(&state, &reason, &waitMS, &leftAt)
	if err != nil {
		t.Fatalf("read contact %s: %v", id, err)
	}
	return state, reason, waitMS, leftAt
}

func contactAgent(t *testing.T, db *store.DB, id string) string {
	t.Helper()
	var agent string
	if err := db.Reader().QueryRowContext(t.Context(),
		`SELECT agent FROM contacts WHERE id = ?`, id).Scan(&agent); err != nil {
		t.Fatalf("read contact %s: %v", id, err)
	}
	return agent
}

func TestConnectNeedsAnAgent(t *testing.T) {
	q, _, db := newQueues(t)
	ctx := t.Context()
	w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Leave(ctx, "abandoned")
	for _, agent := range []string{"", strings.Repeat("a", MaxFieldLen+1)} {
		if err := q.Connect(ctx, w.ContactID(), agent); !errors.Is(err, ErrInvalidContact) {
			t.Errorf("Connect with agent of %d bytes = %v, want ErrInvalidContact", len(agent), err)
		}
	}
	if state, _, _, _ := contactRow(t, db, w.ContactID()); state != StateWaiting {
		t.Errorf("state %q after refused Connects, want waiting", state)
	}
}

func TestEnqueueKeepsContext(t *testing.T) {
	q, clk, _ := newQueues(t)
	ctx := t.Context()
	in := ivr.Contact{
		Queue: "sales", CallID: "call-1", Caller: "+33100000001", Dialled: "3000",
		Language: "fr", Intent: "new_contract", Priority: 5, Skills: []string{"fr", "sales"},
		Vars: map[string]string{"account": "1234"}, Flow: "main", FlowVersion: "7",
	}
	w, err := q.Enqueue(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(w.ContactID()) {
		t.Errorf("contact id %q is not a v4 UUID", w.ContactID())
	}
	clk.Advance(90 * time.Second)
	got, err := q.List(ctx, "sales")
	if err != nil {
		t.Fatal(err)
	}
	want := []WaitingContact{{
		ID: w.ContactID(), Channel: "voice", Queue: "sales", CallID: "call-1", Caller: "+33100000001",
		Dialled: "3000", Language: "fr", Intent: "new_contract", Priority: 5, Skills: []string{"fr", "sales"},
		Vars: map[string]string{"account": "1234"}, Flow: "main", FlowVersion: "7",
		EnqueuedAt: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC), Wait: 90 * time.Second, WaitSeconds: 90,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List:\n got %+v\nwant %+v", got, want)
	}
	if err := w.Leave(ctx, "abandoned"); err != nil {
		t.Fatal(err)
	}
}

func TestEnqueueInvalid(t *testing.T) {
	q, _, _ := newQueues(t)
	tests := []struct {
		name string
		c    ivr.Contact
	}{
		{"no queue", ivr.Contact{}},
		{"queue with slash", ivr.Contact{Queue: "a/b"}},
		{"unknown channel", ivr.Contact{Queue: "a", Channel: "pigeon"}},
		{"priority too high", ivr.Contact{Queue: "a", Priority: MaxPriority + 1}},
		{"negative priority", ivr.Contact{Queue: "a", Priority: -1}},
		{"empty skill", ivr.Contact{Queue: "a", Skills: []string{""}}},
		{"empty var name", ivr.Contact{Queue: "a", Vars: map[string]string{"": "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := q.Enqueue(t.Context(), tt.c); !errors.Is(err, ErrInvalidContact) {
				t.Errorf("Enqueue = %v, want ErrInvalidContact", err)
			}
			if _, err := q.Post(t.Context(), tt.c); !errors.Is(err, ErrInvalidContact) {
				t.Errorf("Post = %v, want ErrInvalidContact", err)
			}
		})
	}
	if n := len(q.waiting); n != 0 {
		t.Errorf("%d contacts left in memory after failed enqueues", n)
	}
}

func TestListOrder(t *testing.T) {
	q, clk, _ := newQueues(t)
	ctx := t.Context()
	ids := map[string]string{}
	for _, c := range []struct {
		name, queue string
		prio        int
	}{
		{"a", "sales", 0},
		{"b", "sales", 5},
		{"c", "support", 9},
		{"d", "sales", 0},
		{"e", "sales", 5},
	} {
		w, err := q.Enqueue(ctx, ivr.Contact{Queue: c.queue, Priority: c.prio, Caller: c.name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Leave(context.Background(), "abandoned") })
		ids[w.ContactID()] = c.name
		clk.Advance(time.Second)
	}
	names := func(cs []WaitingContact) []string {
		var out []string
		for _, c := range cs {
			out = append(out, ids[c.ID])
		}
		return out
	}
	for _, tt := range []struct {
		queue string
		want  []string
	}{
		{"sales", []string{"b", "e", "a", "d"}},
		{"support", []string{"c"}},
		{"", []string{"c", "b", "e", "a", "d"}},
		{"nobody", nil},
	} {
		got, err := q.List(ctx, tt.queue)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("List(%q) = %v, want %v", tt.queue, names(got), tt.want)
		}
		if got == nil {
			t.Errorf("List(%q) returned nil, want an empty slice for JSON []", tt.queue)
		}
	}
	all, _ := q.List(ctx, "sales")
	if all[0].WaitSeconds != 4 || all[3].WaitSeconds != 2 {
		t.Errorf("wait seconds %v and %v, want 4 and 2", all[0].WaitSeconds, all[3].WaitSeconds)
	}
}

func TestLeave(t *testing.T) {
	for _, reason := range []string{"abandoned", "timeout", "connected", "closed"} {
		t.Run(reason, func(t *testing.T) {
			q, clk, db := newQueues(t)
			ctx := t.Context()
			w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(12345 * time.Millisecond)
			if err := w.Leave(ctx, reason); err != nil {
				t.Fatal(err)
			}
			state, gotReason, waitMS, leftAt := contactRow(t, db, w.ContactID())
			if state != reason || gotReason != reason {
				t.Errorf("state %q reason %q, want %q", state, gotReason, reason)
			}
			if waitMS == nil || *waitMS != 12345 {
				t.Errorf("wait_ms = %v, want 12345", waitMS)
			}
			if leftAt == nil || *leftAt != store.FormatTime(clk.Now()) {
				t.Errorf("left_at = %v, want %s", leftAt, store.FormatTime(clk.Now()))
			}
			// Idempotent: a second Leave, later, changes nothing.
			clk.Advance(time.Minute)
			if err := w.Leave(ctx, "timeout"); err != nil {
				t.Fatalf("second Leave: %v", err)
			}
			state2, _, waitMS2, _ := contactRow(t, db, w.ContactID())
			if state2 != state || *waitMS2 != *waitMS {
				t.Errorf("second Leave changed the row: %s %d -> %s %d", state, *waitMS, state2, *waitMS2)
			}
			if l, _ := q.List(ctx, "sales"); len(l) != 0 {
				t.Errorf("%d contacts still listed", len(l))
			}
			if len(q.waiting) != 0 {
				t.Errorf("contact still in memory")
			}
		})
	}
}

func TestLeaveWithCancelledContext(t *testing.T) {
	q, _, db := newQueues(t)
	w, err := q.Enqueue(t.Context(), ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(ivr.ErrCallerHangup)
	if err := w.Leave(ctx, "abandoned"); err != nil {
		t.Fatal(err)
	}
	if state, _, _, _ := contactRow(t, db, w.ContactID()); state != StateAbandoned {
		t.Errorf("state %q, want abandoned", state)
	}
}

func TestLeaveUnknownReason(t *testing.T) {
	q, _, db := newQueues(t)
	w, err := q.Enqueue(t.Context(), ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Leave(t.Context(), "shutdown"); err != nil {
		t.Fatal(err)
	}
	if state, reason, _, _ := contactRow(t, db, w.ContactID()); state != StateAbandoned || reason != "shutdown" {
		t.Errorf("state %q reason %q, want abandoned, shutdown", state, reason)
	}
}

func TestConnect(t *testing.T) {
	q, clk, db := newQueues(t)
	ctx := t.Context()
	w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Connected():
		t.Fatal("connected before Connect")
	default:
	}
	clk.Advance(3 * time.Second)
	if err := q.Connect(ctx, w.ContactID(), "alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Connected():
	case <-time.After(time.Second):
		t.Fatal("Connected not closed after Connect")
	}
	if state, _, waitMS, _ := contactRow(t, db, w.ContactID()); state != StateConnected || *waitMS != 3000 {
		t.Errorf("state %q wait %d, want connected 3000", state, *waitMS)
	}
	if got := contactAgent(t, db, w.ContactID()); got != "alice" {
		t.Errorf("agent %q, want alice", got)
	}
	// The engine then leaves with "connected", and later a hang-up: no-ops.
	clk.Advance(time.Minute)
	for _, r := range []string{"connected", "abandoned"} {
		if err := w.Leave(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if state, _, waitMS, _ := contactRow(t, db, w.ContactID()); state != StateConnected || *waitMS != 3000 {
		t.Errorf("after Leave: state %q wait %d, want connected 3000", state, *waitMS)
	}
	if err := q.Connect(ctx, w.ContactID(), "bob"); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("second Connect = %v, want ErrNotWaiting", err)
	}
	if got := contactAgent(t, db, w.ContactID()); got != "alice" {
		t.Errorf("agent after a second Connect %q, want alice kept", got)
	}
	if err := q.Connect(ctx, "no-such-contact", "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Connect unknown = %v, want store.ErrNotFound", err)
	}
}

func TestConnectAfterAbandon(t *testing.T) {
	q, _, db := newQueues(t)
	ctx := t.Context()
	w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Leave(ctx, "abandoned"); err != nil {
		t.Fatal(err)
	}
	if err := q.Connect(ctx, w.ContactID(), "alice"); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("Connect after hang-up = %v, want ErrNotWaiting", err)
	}
	select {
	case <-w.Connected():
		t.Error("Connected closed for an abandoned contact")
	default:
	}
	if state, _, _, _ := contactRow(t, db, w.ContactID()); state != StateAbandoned {
		t.Errorf("state %q, want abandoned", state)
	}
}

func TestPostAndRemove(t *testing.T) {
	q, clk, db := newQueues(t)
	ctx := t.Context()
	if _, err := q.Post(ctx, ivr.Contact{Queue: "web", Caller: "ann@example.com"}); !errors.Is(err, ErrInvalidContact) {
		t.Errorf("Post without channel = %v, want ErrInvalidContact", err)
	}
	chat, err := q.Post(ctx, ivr.Contact{Channel: "chat", Queue: "web", Caller: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	mail, err := q.Post(ctx, ivr.Contact{Channel: "email", Queue: "web", Caller: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := q.Connect(ctx, chat, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, mail, "closed"); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, mail, "closed"); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("second Remove = %v, want ErrNotWaiting", err)
	}
	if err := q.Remove(ctx, mail, "bored"); err == nil {
		t.Error("Remove with unknown reason succeeded")
	}
	for id, want := range map[string]string{chat: StateConnected, mail: StateClosed} {
		if state, _, waitMS, _ := contactRow(t, db, id); state != want || *waitMS != 60000 {
			t.Errorf("%s: state %q wait %d, want %s 60000", id, state, *waitMS, want)
		}
	}
}

// A crash leaves rows in 'waiting'; the next run abandons the calls among
// them, but chats and emails keep waiting.
func TestRecoverAfterCrash(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ivrd.db")
	clk := &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)}

	db := openDB(t, path)
	q := New(db, WithClock(clk.Now), WithLogger(quiet))
	var calls []string
	for _, ch := range []string{"voice", "webrtc"} {
		w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales", Channel: ch})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, w.ContactID())
	}
	chat, err := q.Post(ctx, ivr.Contact{Queue: "sales", Channel: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // the process dies: nobody calls Leave

	db = openDB(t, path)
	defer db.Close()
	clk.Advance(time.Hour)
	q = New(db, WithClock(clk.Now), WithLogger(quiet))
	// A call of the new run, enqueued before Recover, must survive it.
	live, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := q.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Recover abandoned %d contacts, want 2", n)
	}
	for _, id := range calls {
		state, reason, waitMS, leftAt := contactRow(t, db, id)
		if state != StateAbandoned || reason != RestartReason || waitMS != nil || leftAt == nil {
			t.Errorf("%s: state %q reason %q wait %v left %v, want abandoned, %q, null wait, left_at set",
				id, state, reason, waitMS, leftAt, RestartReason)
		}
	}
	got, err := q.List(ctx, "sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != chat || got[1].ID != live.ContactID() {
		t.Errorf("after Recover List = %+v, want the chat then the live call", got)
	}
	if n, err := q.Recover(ctx); err != nil || n != 0 {
		t.Errorf("second Recover = %d, %v, want 0, nil", n, err)
	}
	live.Leave(ctx, "abandoned")
}

func TestSummary(t *testing.T) {
	q, clk, _ := newQueues(t)
	ctx := t.Context()
	enq := func(queue, channel string) ivr.Waiting {
		t.Helper()
		w, err := q.Enqueue(ctx, ivr.Contact{Queue: queue, Channel: channel})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	// Two days ago: outside the window.
	old := enq("sales", "voice")
	clk.Advance(time.Minute)
	old.Leave(ctx, "connected")
	clk.Advance(48 * time.Hour)

	w1 := enq("sales", "voice")
	w2 := enq("sales", "voice")
	clk.Advance(10 * time.Second)
	w3 := enq("sales", "webrtc")
	w4 := enq("support", "voice")
	clk.Advance(20 * time.Second)
	q.Connect(ctx, w1.ContactID(), "alice") // waited 30s
	w2.Leave(ctx, "abandoned")
	clk.Advance(10 * time.Second)
	q.Connect(ctx, w4.ContactID(), "bob") // waited 30s
	w5 := enq("sales", "voice")
	clk.Advance(5 * time.Second)
	defer w3.Leave(ctx, "abandoned")
	defer w5.Leave(ctx, "abandoned")

	got, err := q.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueSummary{
		{
			Name: "sales", Waiting: 2, Channels: map[string]int{"voice": 1, "webrtc": 1},
			OldestWait: 35 * time.Second, OldestWaitSeconds: 35, Window: "24h0m0s",
			Connected: 1, Abandoned: 1, AvgWaitSeconds: 30,
		},
		{
			Name: "support", Channels: map[string]int{}, Window: "24h0m0s",
			Connected: 1, AvgWaitSeconds: 30,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Summary:\n got %+v\nwant %+v", got, want)
	}
}

// Many calls enqueue, get connected or leave at once; run with -race.
func TestConcurrentEnqueueLeave(t *testing.T) {
	q, _, _ := newQueues(t)
	q.now = time.Now
	ctx := t.Context()
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				w, err := q.Enqueue(ctx, ivr.Contact{Queue: fmt.Sprintf("q%d", g%3), Priority: i % 4})
				if err != nil {
					errs <- err
					return
				}
				switch i % 3 {
				case 0:
					// An agent and the caller's hang-up race; exactly one wins.
					cerr := make(chan error, 1)
					go func() { cerr <- q.Connect(ctx, w.ContactID(), "alice") }()
					if err := w.Leave(ctx, "abandoned"); err != nil {
						errs <- err
					}
					if err := <-cerr; err != nil && !errors.Is(err, ErrNotWaiting) {
						errs <- err
					}
				case 1:
					if err := q.Connect(ctx, w.ContactID(), "alice"); err != nil {
						errs <- err
					}
					<-w.Connected()
					if err := w.Leave(ctx, "connected"); err != nil {
						errs <- err
					}
				default:
					if _, err := q.List(ctx, ""); err != nil {
						errs <- err
					}
					if err := w.Leave(ctx, "timeout"); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := q.Summary(ctx); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	left, err := q.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d contacts still waiting", len(left))
	}
	sum, err := q.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range sum {
		total += s.Connected + s.Abandoned + s.TimedOut
	}
	if total != workers*each {
		t.Errorf("%d contacts accounted for, want %d", total, workers*each)
	}
	if len(q.waiting) != 0 {
		t.Errorf("%d contacts left in memory", len(q.waiting))
	}
}

func BenchmarkEnqueueLeave(b *testing.B) {
	q, _, _ := newQueues(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Leave(ctx, "abandoned"); err != nil {
			b.Fatal(err)
		}
	}
}

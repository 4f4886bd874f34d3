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
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
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

// start is the time the tests' clocks start at.
var start = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

func newQueues(t testing.TB, opts ...Option) (*Queues, *ivrtest.Clock, *store.DB) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "ivrd.db"))
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(start)
	q := mustNew(t, db, append([]Option{WithClock(clk), WithLogger(quiet)}, opts...)...)
	return q, clk, db
}

func mustNew(t testing.TB, db *store.DB, opts ...Option) *Queues {
	t.Helper()
	q, err := New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
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
	if n := len(q.contacts); n != 0 {
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
	for _, reason := range []string{"abandoned", "timeout", "transferred", "closed"} {
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
			if len(q.contacts) != 0 {
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

func TestAnswerConnects(t *testing.T) {
	q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	ctx := t.Context()
	signIn(t, q, "alice")
	w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second)
	ev := nextEvent(t, w)
	if ev.Kind != ivr.EventOffered || ev.Offer.Agent != "alice" {
		t.Fatalf("event %+v, want an offer to alice", ev)
	}
	leg := newLeg()
	if err := w.Answer(ctx, ev.Offer.ID, leg); err != nil {
		t.Fatal(err)
	}
	if state, _, waitMS, _ := contactRow(t, db, w.ContactID()); state != StateConnected || *waitMS != 3000 {
		t.Errorf("state %q wait %d, want connected 3000", state, *waitMS)
	}
	if got := contactAgent(t, db, w.ContactID()); got != "alice" {
		t.Errorf("agent %q, want alice", got)
	}
	// A hang-up after the answer changes nothing in the queue's record.
	clk.Advance(time.Minute)
	if err := w.Leave(ctx, "abandoned"); err != nil {
		t.Fatal(err)
	}
	if state, _, waitMS, _ := contactRow(t, db, w.ContactID()); state != StateConnected || *waitMS != 3000 {
		t.Errorf("after Leave: state %q wait %d, want connected 3000", state, *waitMS)
	}
	if err := w.Answer(ctx, ev.Offer.ID, newLeg()); !errors.Is(err, ivr.ErrOfferOver) {
		t.Errorf("second Answer = %v, want ErrOfferOver", err)
	}
	if err := w.End(ctx, ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	var talkMS int64
	var endedBy string
	if err := db.Reader().QueryRowContext(ctx, `SELECT talk_ms, ended_by FROM contacts WHERE id = ?`,
		w.ContactID()).Scan(&talkMS, &endedBy); err != nil {
		t.Fatal(err)
	}
	if talkMS != 60000 || endedBy != "caller" {
		t.Errorf("talk %d ms ended by %q, want 60000 by caller", talkMS, endedBy)
	}
}

func TestAnswerAfterAbandon(t *testing.T) {
	q, _, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	ctx := t.Context()
	signIn(t, q, "alice")
	w, err := q.Enqueue(ctx, ivr.Contact{Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w)
	if err := w.Leave(ctx, "abandoned"); err != nil {
		t.Fatal(err)
	}
	if err := w.Answer(ctx, ev.Offer.ID, newLeg()); !errors.Is(err, ivr.ErrOfferOver) {
		t.Errorf("Answer after hang-up = %v, want ErrOfferOver", err)
	}
	if state, _, _, _ := contactRow(t, db, w.ContactID()); state != StateAbandoned {
		t.Errorf("state %q, want abandoned", state)
	}
	if st := agentState(t, q, "alice"); st != AgentAvailable {
		t.Errorf("alice is %s, want available", st)
	}
}

func TestPostAndRemove(t *testing.T) {
	q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	ctx := t.Context()
	if _, err := q.Post(ctx, ivr.Contact{Queue: "web", Caller: "ann@example.com"}); !errors.Is(err, ErrInvalidContact) {
		t.Errorf("Post without channel = %v, want ErrInvalidContact", err)
	}
	if _, err := q.Post(ctx, ivr.Contact{Channel: "voice", Queue: "web"}); !errors.Is(err, ErrInvalidContact) {
		t.Errorf("Post of a call = %v, want ErrInvalidContact", err)
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
	desk := subscribe(t, q, "alice")
	signIn(t, q, "alice")
	offers := deskOffers(desk)
	if len(offers) != 1 || offers[0].Contact.ID != chat {
		t.Fatalf("desk offers %+v, want the chat", offers)
	}
	if err := q.AcceptOffer(ctx, "alice", offers[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, mail, "closed"); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, mail, "closed"); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("second Remove = %v, want ErrNotWaiting", err)
	}
	if err := q.Remove(ctx, chat, "closed"); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("Remove of a connected chat = %v, want ErrNotWaiting", err)
	}
	if err := q.Remove(ctx, mail, "bored"); err == nil {
		t.Error("Remove with unknown reason succeeded")
	}
	if err := q.Remove(ctx, "no-such-contact", "closed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Remove of an unknown contact = %v, want store.ErrNotFound", err)
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
	clk := ivrtest.NewClock(start)

	db := openDB(t, path)
	q := mustNew(t, db, WithClock(clk), WithLogger(quiet))
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
	q = mustNew(t, db, WithClock(clk), WithLogger(quiet))
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
	// Calls lost with the previous run are no abandons of this one's
	// figures.
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range st.Intervals {
		if in.Total.Abandoned != 0 || in.Total.Offered != 0 {
			t.Errorf("%s after Recover: %+v, want no abandon counted", in.Name, in.Total)
		}
	}
	live.Leave(ctx, "abandoned")
}

func TestSummary(t *testing.T) {
	cfg := config(agentCfg("alice", queues("sales")), agentCfg("bob", queues("support")))
	cfg.OfferTimeout = 5 * time.Minute
	q, clk, _ := newQueues(t, WithConfig(cfg))
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
	old.Leave(ctx, "timeout")
	clk.Advance(48 * time.Hour)
	signIn(t, q, "alice", "bob")

	w1 := enq("sales", "voice")
	w2 := enq("sales", "voice")
	clk.Advance(10 * time.Second)
	w3 := enq("sales", "webrtc")
	w4 := enq("support", "voice")
	clk.Advance(20 * time.Second)
	answer(t, w1, "alice") // waited 30s
	w2.Leave(ctx, "abandoned")
	clk.Advance(10 * time.Second)
	answer(t, w4, "bob") // waited 30s
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

// Many calls enqueue, are offered, answered and ended, or leave, at once,
// with agents taking them; run with -race.
func TestConcurrentEnqueueLeave(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "ivrd.db"))
	t.Cleanup(func() { db.Close() })
	cfg := config(agentCfg("a1"), agentCfg("a2"), agentCfg("a3"), agentCfg("a4"))
	cfg.WrapUp = 0
	q := mustNew(t, db, WithLogger(quiet), WithConfig(cfg)) // the real clock
	ctx := t.Context()
	signIn(t, q, "a1", "a2", "a3", "a4")
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, 4*workers*each)
	// take answers the offers of w until done is closed or one is
	// answered, then ends the conversation.
	take := func(w ivr.Waiting, done <-chan struct{}) {
		for {
			select {
			case ev := <-w.Events():
				if ev.Kind != ivr.EventOffered {
					continue
				}
				err := w.Answer(ctx, ev.Offer.ID, newLeg())
				if errors.Is(err, ivr.ErrOfferOver) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if err := w.End(ctx, ivr.EndedByCaller); err != nil {
					errs <- err
				}
				return
			case <-done:
				return
			}
		}
	}
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
					// An agent's answer and the caller's hang-up race;
					// exactly one wins.
					done := make(chan struct{})
					taken := make(chan struct{})
					go func() { defer close(taken); take(w, done) }()
					if err := w.Leave(ctx, "abandoned"); err != nil {
						errs <- err
					}
					close(done)
					<-taken
				case 1:
					take(w, nil)
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
	wg.Go(func() {
		for range 20 {
			if _, err := q.Summary(ctx); err != nil {
				errs <- err
			}
			if _, err := q.Board(ctx); err != nil {
				errs <- err
			}
		}
	})
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
	if n := len(q.contacts); n != 0 {
		t.Errorf("%d contacts left in memory", n)
	}
	for _, a := range q.Agents() {
		if a.State != AgentAvailable || a.Load[ChannelVoice] != 0 {
			t.Errorf("agent %s %s with load %v, want available and free", a.Name, a.State, a.Load)
		}
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

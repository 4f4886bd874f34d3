package routing

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
	"github.com/ivrd/ivrd/store"
)

// handleAttempts makes q hand its callback attempts to the returned
// channel; each handler then waits for Close, as the engine's does while
// it calls the customer.
func handleAttempts(q *Queues) <-chan ivr.CallbackAttempt {
	ch := make(chan ivr.CallbackAttempt, 16)
	q.HandleCallbacks(func(ctx context.Context, a ivr.CallbackAttempt) {
		ch <- a
		<-ctx.Done()
	})
	return ch
}

// nextAttempt returns the next attempt handed over; its handler runs in a
// goroutine of its own, so it may take a moment.
func nextAttempt(t testing.TB, ch <-chan ivr.CallbackAttempt) ivr.CallbackAttempt {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no callback attempt")
		return ivr.CallbackAttempt{}
	}
}

// callbackState is the request's state and attempts in the router.
func callbackState(t testing.TB, q *Queues, id string) (string, int) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.contacts[id]
	if c == nil || c.cb == nil {
		return "", 0
	}
	return c.cb.state, c.cb.attempts
}

type requestOpt func(*ivr.CallbackRequest)

func callerFirst(r *ivr.CallbackRequest) { r.Mode = ivr.CallbackCallerFirst }
func notBefore(t time.Time) requestOpt   { return func(r *ivr.CallbackRequest) { r.NotBefore = t } }
func place(t time.Time) requestOpt       { return func(r *ivr.CallbackRequest) { r.Contact.EnqueuedAt = t } }
func maxAttempts(n int) requestOpt       { return func(r *ivr.CallbackRequest) { r.MaxAttempts = n } }
func inQueue(name string) requestOpt     { return func(r *ivr.CallbackRequest) { r.Contact.Queue = name } }
func requestCallback(t testing.TB, q *Queues, number string, opts ...requestOpt) ivr.Callback {
	t.Helper()
	cb, err := q.RequestCallback(context.Background(), newRequest(number, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func newRequest(number string, opts ...requestOpt) ivr.CallbackRequest {
	r := ivr.CallbackRequest{
		Contact: ivr.Contact{Channel: ChannelCallback, Queue: "sales", Caller: number, CallID: "in-" + number,
			Intent: "rappel", Language: "fr"},
		Number: number, MaxAttempts: 3, RetryDelay: 10 * time.Minute, Mode: ivr.CallbackAgentFirst, Node: "rappel",
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

type callbackDBRow struct {
	state, lastResult                       string
	attempts                                int
	next, connected, completed              sql.NullString
	contactState, contactCallID, contactAgt string
}

func readCallback(t *testing.T, db *store.DB, id string) callbackDBRow {
	t.Helper()
	var r callbackDBRow
	err := db.Reader().QueryRowContext(t.Context(), `SELECT cb.state, cb.last_result, cb.attempts, cb.next_attempt,
			cb.connected_at, cb.completed_at, c.state, c.call_id, c.agent
		FROM callbacks cb JOIN contacts c ON c.id = cb.id WHERE cb.id = ?`, id).Scan(&r.state, &r.lastResult,
		&r.attempts, &r.next, &r.connected, &r.completed, &r.contactState, &r.contactCallID, &r.contactAgt)
	if err != nil {
		t.Fatalf("read callback %s: %v", id, err)
	}
	return r
}

type attemptDBRow struct {
	result, callID, agent string
	ended                 bool
}

func readAttempts(t *testing.T, db *store.DB, id string) []attemptDBRow {
	t.Helper()
	rows, err := db.Reader().QueryContext(t.Context(), `SELECT result, call_id, agent, ended_at IS NOT NULL
		FROM callback_attempts WHERE callback_id = ? ORDER BY attempt`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []attemptDBRow
	for rows.Next() {
		var a attemptDBRow
		if err := rows.Scan(&a.result, &a.callID, &a.agent, &a.ended); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// A callback keeps the place the caller had in the queue before asking
// for it: among calls by priority, then the time it joined, like a call.
func TestCallbackKeepsPlace(t *testing.T) {
	q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"), agentCfg("bob"))))
	attempts := handleAttempts(q)
	a := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "a"}) // 09:00:00
	clk.Advance(10 * time.Second)
	b := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "b"}) // 09:00:10
	clk.Advance(10 * time.Second)
	vip := enqueue(t, q, ivr.Contact{Queue: "sales", Caller: "vip", Priority: 5}) // 09:00:20
	// The caller joined at 09:00:05 and pressed the callback key at 09:00:20.
	cb := requestCallback(t, q, "+33612345678", place(start.Add(5*time.Second)))
	if cb.State != ivr.CallbackPending || cb.Attempts != 0 || !cb.RequestedAt.Equal(clk.Now()) {
		t.Errorf("request %+v", cb)
	}
	// Third of four, nobody present: 3 × 3 min.
	if want := clk.Now().Add(9 * time.Minute); !cb.Expected.Equal(want) {
		t.Errorf("expected %s, want %s", cb.Expected, want)
	}
	pos, err := b.Position(t.Context())
	if err != nil || pos.Position != 4 {
		t.Errorf("b's position %+v %v, want 4: vip, a, the callback, then b", pos, err)
	}
	signIn(t, q, "alice")
	answer(t, vip, "alice")
	signIn(t, q, "bob")
	answer(t, a, "bob")
	if err := vip.End(t.Context(), ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultWrapUp)
	// alice is free: the callback before b.
	at := nextAttempt(t, attempts)
	if at.Attempt != 1 || at.Callback.ID != cb.ID || at.Callback.State != ivr.CallbackActive || at.Callback.Number != "+33612345678" {
		t.Errorf("attempt %+v", at)
	}
	offered(t, at.Waiting, "alice")
	noEvent(t, b)
}

// A callback is not offered before its NotBefore (the next opening).
func TestCallbackNotBefore(t *testing.T) {
	q, clk, _ := newQueues(t, WithConfig(config(agentCfg("alice"))))
	attempts := handleAttempts(q)
	signIn(t, q, "alice")
	opening := start.Add(time.Hour)
	cb := requestCallback(t, q, "0612345678", notBefore(opening))
	if !cb.NextAttempt.Equal(opening) || !cb.Expected.Equal(opening) {
		t.Errorf("next %s expected %s, want both %s", cb.NextAttempt, cb.Expected, opening)
	}
	if state, n := callbackState(t, q, cb.ID); state != ivr.CallbackPending || n != 0 {
		t.Fatalf("state %s after %d attempts, want pending", state, n)
	}
	// A call meanwhile is served; the callback does not hold alice.
	w := enqueue(t, q, ivr.Contact{Queue: "sales"})
	answer(t, w, "alice")
	w.End(t.Context(), ivr.EndedByCaller)
	clk.Advance(59 * time.Minute)
	if state, _ := callbackState(t, q, cb.ID); state != ivr.CallbackPending {
		t.Fatalf("state %s before its time", state)
	}
	if agentState(t, q, "alice") != AgentAvailable {
		t.Fatalf("alice %s", agentState(t, q, "alice"))
	}
	clk.Advance(time.Minute)
	at := nextAttempt(t, attempts)
	offered(t, at.Waiting, "alice")
	if state, n := callbackState(t, q, cb.ID); state != ivr.CallbackActive || n != 1 {
		t.Errorf("state %s after %d attempts, want active, 1", state, n)
	}
}

// Agent-first: the request is offered to an agent like a call (a declined
// offer goes to the next agent within the same attempt); the agent takes
// it, the customer answers, the conversation ends: completed.
func TestCallbackAgentFirst(t *testing.T) {
	q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice", phone("sip:alice@192.0.2.10")), agentCfg("bob", phone("sip:bob@192.0.2.11")))))
	attempts := handleAttempts(q)
	signIn(t, q, "alice")
	clk.Advance(time.Second)
	signIn(t, q, "bob")
	desk := subscribe(t, q, "alice")
	deskEvents(desk)
	cb := requestCallback(t, q, "0612345678")
	at := nextAttempt(t, attempts)
	w := at.Waiting
	o := offered(t, w, "alice")
	if o.Phone != "sip:alice@192.0.2.10" {
		t.Errorf("offer %+v: want alice's phone rung", o)
	}
	offers := deskOffers(desk)
	if len(offers) != 1 || !offers[0].Phone || offers[0].Contact.Channel != ChannelCallback ||
		offers[0].Contact.Callback == nil || offers[0].Contact.Callback.Number != "0612345678" {
		t.Fatalf("desk offers %+v", offers)
	}
	// alice's phone is busy: bob, same attempt.
	if err := w.Decline(t.Context(), o.ID, ivr.DeclineBusy); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Kind != ivr.EventWithdrawn {
		t.Fatalf("event %d, want withdrawn", ev.Kind)
	}
	o = offered(t, w, "bob")
	leg := newLeg()
	if err := w.Answer(t.Context(), o.ID, leg); err != nil {
		t.Fatal(err)
	}
	if s := agentState(t, q, "bob"); s != AgentBusy {
		t.Errorf("bob %s, want busy", s)
	}
	// No second attempt while this one goes on.
	select {
	case a := <-attempts:
		t.Fatalf("second attempt %+v", a)
	default:
	}
	clk.Advance(20 * time.Second) // the customer's phone rings
	if err := at.Waiting.Reached(t.Context(), "out-1"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if err := w.End(t.Context(), ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	if s := agentState(t, q, "bob"); s != AgentWrapUp {
		t.Errorf("bob %s, want wrap_up", s)
	}
	r := readCallback(t, db, cb.ID)
	if r.state != ivr.CallbackCompleted || r.lastResult != ResultCompleted || r.attempts != 1 ||
		r.connected.String != store.FormatTime(start.Add(time.Second)) || !r.completed.Valid || r.next.Valid {
		t.Errorf("callback row %+v", r)
	}
	if r.contactState != StateConnected || r.contactCallID != "out-1" || r.contactAgt != "bob" {
		t.Errorf("contact row %+v: want connected to bob, with the call back's id", r)
	}
	if got := readAttempts(t, db, cb.ID); len(got) != 1 || got[0] != (attemptDBRow{ResultCompleted, "out-1", "bob", true}) {
		t.Errorf("attempts %+v", got)
	}
	if state, _ := callbackState(t, q, cb.ID); state != "" {
		t.Errorf("still held: %s", state)
	}
	// The request is no longer open: the number may ask again.
	if p, err := q.PendingCallbacks(t.Context(), "0612345678"); err != nil || len(p) != 0 {
		t.Errorf("pending %+v %v", p, err)
	}
}

// A browser agent accepts a callback in the desk as a call: the attempt
// gets the agent's leg (EventAccepted) and answers with it.
func TestCallbackBrowserAgent(t *testing.T) {
	q, _, db := newQueues(t, WithConfig(config(agentCfg("bob"))))
	attempts := handleAttempts(q)
	signIn(t, q, "bob")
	requestCallback(t, q, "0612345678")
	at := nextAttempt(t, attempts)
	o := offered(t, at.Waiting, "bob")
	if o.Phone != "" {
		t.Errorf("offer to a browser agent with phone %q", o.Phone)
	}
	if err := q.AcceptOffer(t.Context(), "bob", o.ID, nil); !errors.Is(err, ErrLegRequired) {
		t.Errorf("accept without a leg: %v", err)
	}
	leg := newLeg()
	if err := q.AcceptOffer(t.Context(), "bob", o.ID, leg); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, at.Waiting)
	if ev.Kind != ivr.EventAccepted || ev.Leg != leg || ev.Offer.ID != o.ID {
		t.Fatalf("event %+v, want accepted with bob's leg", ev)
	}
	if err := at.Waiting.Answer(t.Context(), o.ID, ev.Leg); err != nil {
		t.Fatal(err)
	}
	a, _ := q.Agent("bob")
	if a.State != AgentBusy || len(a.Contacts) != 1 || a.Contacts[0].Callback == nil || a.Load[ChannelVoice] != 1 {
		t.Errorf("bob %+v", a)
	}
	// The customer answered (Reached is not needed to complete it), talked,
	// hung up.
	if err := at.Waiting.End(t.Context(), ivr.EndedByCaller); err != nil {
		t.Fatal(err)
	}
	if r := readCallback(t, db, at.Callback.ID); r.state != ivr.CallbackCompleted || !r.connected.Valid {
		t.Errorf("row %+v", r)
	}
}

// Caller-first: the turn comes without an offer; no agent is held and
// the request is not handed over again while the customer is called;
// reached, it is offered like a call, on the same Waiting.
func TestCallbackCallerFirst(t *testing.T) {
	q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	attempts := handleAttempts(q)
	signIn(t, q, "alice")
	cb := requestCallback(t, q, "0612345678", callerFirst)
	at := nextAttempt(t, attempts)
	if ev := nextEvent(t, at.Waiting); ev.Kind != ivr.EventTurn {
		t.Fatalf("first event %+v, want the turn", ev)
	}
	if s := agentState(t, q, "alice"); s != AgentAvailable {
		t.Errorf("alice %s while the customer is called", s)
	}
	if err := q.SetAgentState(t.Context(), "alice", AgentAvailable); err != nil { // the router matches again
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	noEvent(t, at.Waiting)
	if _, n := callbackState(t, q, cb.ID); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if err := q.Assign(t.Context(), cb.ID, "alice"); !errors.Is(err, ErrCallbackState) {
		t.Errorf("assign while dialling: %v", err)
	}
	if err := at.Waiting.Reached(t.Context(), "out-1"); err != nil {
		t.Fatal(err)
	}
	o := offered(t, at.Waiting, "alice")
	clk.Advance(5 * time.Second)
	if err := at.Waiting.Answer(t.Context(), o.ID, newLeg()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := at.Waiting.End(t.Context(), ivr.EndedByAgent); err != nil {
		t.Fatal(err)
	}
	r := readCallback(t, db, cb.ID)
	// Connected when the agent answered, after the customer.
	if r.state != ivr.CallbackCompleted || r.connected.String != store.FormatTime(start.Add(65*time.Second)) {
		t.Errorf("callback row %+v", r)
	}
}

// A caller-first customer who hangs up waiting for an agent: failed,
// abandoned, no other attempt.
func TestCallbackCallerFirstAbandoned(t *testing.T) {
	q, _, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	attempts := handleAttempts(q)
	signIn(t, q, "alice")
	cb := requestCallback(t, q, "0612345678", callerFirst)
	at := nextAttempt(t, attempts)
	nextEvent(t, at.Waiting)
	if err := q.SetAgentState(t.Context(), "alice", AgentAway); err != nil {
		t.Fatal(err)
	}
	if err := at.Waiting.Reached(t.Context(), "out-1"); err != nil {
		t.Fatal(err)
	}
	noEvent(t, at.Waiting)
	if err := at.Waiting.Leave(t.Context(), "abandoned"); err != nil {
		t.Fatal(err)
	}
	r := readCallback(t, db, cb.ID)
	if r.state != ivr.CallbackFailed || r.lastResult != "abandoned" || r.contactState != StateClosed {
		t.Errorf("callback row %+v", r)
	}
	if got := readAttempts(t, db, cb.ID); len(got) != 1 || got[0].result != "abandoned" || got[0].callID != "out-1" {
		t.Errorf("attempts %+v", got)
	}
	signIn(t, q, "alice")
	select {
	case a := <-attempts:
		t.Fatalf("attempt after the request failed: %+v", a)
	case <-time.After(50 * time.Millisecond):
	}
}

// An attempt that does not reach the customer releases the agent without
// wrap-up; the next attempt comes at the retry time, at the same place;
// after the last one the request fails.
func TestCallbackFailedRetry(t *testing.T) {
	q, clk, db := newQueues(t, WithConfig(config(agentCfg("alice", phone("sip:alice@192.0.2.10")))))
	attempts := handleAttempts(q)
	signIn(t, q, "alice")
	desk := subscribe(t, q, "alice")
	cb := requestCallback(t, q, "0612345678", maxAttempts(2))
	at := nextAttempt(t, attempts)
	o := offered(t, at.Waiting, "alice")
	leg := newLeg()
	if err := at.Waiting.Answer(t.Context(), o.ID, leg); err != nil {
		t.Fatal(err)
	}
	deskEvents(desk)
	clk.Advance(30 * time.Second)
	retry := clk.Now().Add(10 * time.Minute)
	if err := at.Waiting.Failed(t.Context(), ivr.CallbackNoAnswer, retry); err != nil {
		t.Fatal(err)
	}
	if s := agentState(t, q, "alice"); s != AgentAvailable {
		t.Errorf("alice %s, want available at once (no wrap-up)", s)
	}
	if ok, _ := leg.hungUp(); !ok {
		t.Error("alice's leg not hung up")
	}
	evs := deskEvents(desk)
	if len(evs) == 0 || evs[0].Type != "ended" || evs[0].Reason != ReasonNotReached {
		t.Errorf("desk events %+v, want ended: not reached", evs)
	}
	r := readCallback(t, db, cb.ID)
	if r.state != ivr.CallbackPending || r.lastResult != ivr.CallbackNoAnswer || r.attempts != 1 ||
		r.next.String != store.FormatTime(retry) || r.contactState != StateWaiting || r.contactAgt != "" {
		t.Errorf("callback row %+v", r)
	}
	// The finished attempt's Waiting does nothing any more.
	if err := at.Waiting.Reached(t.Context(), "late"); !errors.Is(err, ErrCallbackState) {
		t.Errorf("reached on a finished attempt: %v", err)
	}
	if err := at.Waiting.Failed(t.Context(), ivr.CallbackBusy, time.Time{}); err != nil {
		t.Errorf("failed on a finished attempt: %v", err)
	}
	clk.Advance(10*time.Minute - time.Second)
	if state, _ := callbackState(t, q, cb.ID); state != ivr.CallbackPending {
		t.Fatalf("state %s before the retry time", state)
	}
	clk.Advance(time.Second)
	at2 := nextAttempt(t, attempts)
	if at2.Attempt != 2 || at2.Callback.Attempts != 2 || at2.Waiting == at.Waiting {
		t.Fatalf("attempt %+v", at2)
	}
	offered(t, at2.Waiting, "alice")
	// Busy, and a retry time given: the attempts are used up all the same.
	if err := at2.Waiting.Failed(t.Context(), ivr.CallbackBusy, clk.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r = readCallback(t, db, cb.ID)
	if r.state != ivr.CallbackFailed || r.lastResult != ivr.CallbackBusy || r.attempts != 2 ||
		!r.completed.Valid || r.next.Valid || r.contactState != StateClosed {
		t.Errorf("callback row %+v", r)
	}
	got := readAttempts(t, db, cb.ID)
	if len(got) != 2 || got[0].result != ivr.CallbackNoAnswer || got[0].agent != "alice" ||
		got[1].result != ivr.CallbackBusy || !got[1].ended {
		t.Errorf("attempts %+v", got)
	}
	if s := agentState(t, q, "alice"); s != AgentAvailable {
		t.Errorf("alice %s", s)
	}
}

// One open request per number and queue; a daily limit per number across
// queues.
func TestCallbackRequestLimits(t *testing.T) {
	cfg := config()
	cfg.Callbacks.MaxPerDay = 3
	q, clk, _ := newQueues(t, WithConfig(cfg))
	ctx := t.Context()
	first := requestCallback(t, q, "0612345678")
	got, err := q.RequestCallback(ctx, newRequest("0612345678"))
	if !errors.Is(err, ivr.ErrCallbackExists) || got.ID != first.ID || got.State != ivr.CallbackPending {
		t.Fatalf("second request in the queue: %+v %v, want the first back with ErrCallbackExists", got, err)
	}
	requestCallback(t, q, "0612345678", inQueue("support"))
	requestCallback(t, q, "0612345678", inQueue("billing"))
	if _, err := q.RequestCallback(ctx, newRequest("0612345678", inQueue("vip"))); !errors.Is(err, ivr.ErrCallbackLimit) {
		t.Fatalf("fourth request today: %v, want ErrCallbackLimit", err)
	}
	if _, err := q.RequestCallback(ctx, newRequest("0699999999", inQueue("vip"))); err != nil {
		t.Errorf("another number: %v", err)
	}
	pending, err := q.PendingCallbacks(ctx, "0612345678")
	if err != nil || len(pending) != 3 || pending[0].ID != first.ID || pending[0].Contact.Intent != "rappel" {
		t.Errorf("pending %+v %v", pending, err)
	}
	clk.Advance(24 * time.Hour)
	if _, err := q.RequestCallback(ctx, newRequest("0612345678", inQueue("vip"))); err != nil {
		t.Errorf("a day later: %v", err)
	}
	for _, bad := range []ivr.CallbackRequest{
		newRequest("06 12"), newRequest(""), newRequest("+"),
		newRequest("0611111111", func(r *ivr.CallbackRequest) { r.Mode = "later" }),
		newRequest("0611111111", maxAttempts(0)),
		newRequest("0611111111", func(r *ivr.CallbackRequest) { r.Contact.Channel = ChannelVoice }),
		newRequest("0611111111", inQueue("")),
	} {
		if _, err := q.RequestCallback(ctx, bad); !errors.Is(err, ErrInvalidContact) {
			t.Errorf("request %+v: %v, want ErrInvalidContact", bad, err)
		}
	}
}

// A pending request is cancelled at once; one in an attempt is cancelled
// when the attempt fails, with no attempt after it.
func TestCallbackCancel(t *testing.T) {
	q, _, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	attempts := handleAttempts(q)
	ctx := t.Context()
	pending := requestCallback(t, q, "0611111111")
	if err := q.CancelCallback(ctx, pending.ID, "customer called back"); err != nil {
		t.Fatal(err)
	}
	if r := readCallback(t, db, pending.ID); r.state != ivr.CallbackCancelled || r.contactState != StateClosed || !r.completed.Valid {
		t.Errorf("cancelled row %+v", r)
	}
	if err := q.CancelCallback(ctx, pending.ID, ""); !errors.Is(err, ErrCallbackState) {
		t.Errorf("cancel twice: %v", err)
	}
	if err := q.CancelCallback(ctx, "nope", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
	b, _ := q.Board(ctx)
	if len(b.Queues) != 0 {
		t.Errorf("board %+v", b.Queues)
	}

	signIn(t, q, "alice")
	active := requestCallback(t, q, "0622222222")
	at := nextAttempt(t, attempts)
	offered(t, at.Waiting, "alice")
	if err := q.CancelCallback(ctx, active.ID, "by sam"); err != nil {
		t.Fatal(err)
	}
	rec, err := q.Callback(ctx, active.ID)
	if err != nil || rec.State != ivr.CallbackActive || rec.CancelReason != "by sam" || len(rec.Attempts) != 1 {
		t.Errorf("record %+v %v", rec, err)
	}
	if err := at.Waiting.Failed(ctx, ivr.CallbackNoAnswer, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := readCallback(t, db, active.ID); r.state != ivr.CallbackCancelled || r.lastResult != ivr.CallbackNoAnswer {
		t.Errorf("row %+v, want cancelled after its attempt", r)
	}
	list, err := q.ListCallbacks(ctx, CallbackFilter{State: ivr.CallbackCancelled})
	if err != nil || len(list) != 2 || list[0].ID != active.ID || list[0].Attempts[0].Result != ivr.CallbackNoAnswer {
		t.Errorf("list %+v %v", list, err)
	}
}

// A handler that returns with its attempt open: the attempt failed, the
// request waits for its retry delay.
func TestCallbackHandlerReturns(t *testing.T) {
	q, _, db := newQueues(t, WithConfig(config(agentCfg("alice"))))
	done := make(chan struct{}, 1)
	q.HandleCallbacks(func(ctx context.Context, a ivr.CallbackAttempt) {
		done <- struct{}{}
	})
	signIn(t, q, "alice")
	cb := requestCallback(t, q, "0612345678")
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := readCallback(t, db, cb.ID)
		if r.state == ivr.CallbackPending && r.lastResult == ivr.CallbackError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := agentState(t, q, "alice"); s != AgentAvailable {
		t.Errorf("alice %s", s)
	}
}

// Close interrupts the attempts in progress: each counts, and its request
// is due again at once.
func TestCallbackCloseInterrupts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	db := openDB(t, path)
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(start)
	q := mustNew(t, db, WithClock(clk), WithLogger(quiet), WithConfig(config(agentCfg("alice"))))
	attempts := handleAttempts(q)
	signIn(t, q, "alice")
	cb := requestCallback(t, q, "0612345678")
	at := nextAttempt(t, attempts)
	o := offered(t, at.Waiting, "alice")
	if err := at.Waiting.Answer(t.Context(), o.ID, newLeg()); err != nil {
		t.Fatal(err)
	}
	q.Close()
	r := readCallback(t, db, cb.ID)
	if r.state != ivr.CallbackPending || r.lastResult != ResultInterrupted || r.attempts != 1 ||
		r.next.String != store.FormatTime(start) || r.contactState != StateWaiting {
		t.Errorf("row %+v", r)
	}
	if got := readAttempts(t, db, cb.ID); len(got) != 1 || got[0].result != ResultInterrupted {
		t.Errorf("attempts %+v", got)
	}
}

// After a restart the pending requests are back in their queues, at their
// place and time; a request whose attempt the previous run was making
// counts it as interrupted and is due at once; one cancelled during it is
// cancelled.
func TestCallbackRecover(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	db := openDB(t, path)
	t.Cleanup(func() { db.Close() })
	clk := ivrtest.NewClock(start)
	cfg := config(agentCfg("alice"), agentCfg("bob"))
	first := mustNew(t, db, WithClock(clk), WithLogger(quiet), WithConfig(cfg))
	later := requestCallback(t, first, "0611111111", notBefore(start.Add(time.Hour)))
	clk.Advance(time.Second)
	due := requestCallback(t, first, "0622222222")
	clk.Advance(time.Second)
	active := requestCallback(t, first, "0633333333", callerFirst, place(start.Add(-time.Minute)))
	cancelled := requestCallback(t, first, "0644444444")
	enqueue(t, first, ivr.Contact{Queue: "sales"}) // a call, abandoned by the restart
	// The previous run died during attempts of active and cancelled (the
	// latter cancelled meanwhile), alice on the phone for it.
	err := db.Write(t.Context(), func(tx *sql.Tx) error {
		for _, s := range []string{
			`UPDATE callbacks SET state = 'active', attempts = 1 WHERE id IN ('` + active.ID + `', '` + cancelled.ID + `')`,
			`UPDATE callbacks SET cancel_reason = 'by sam' WHERE id = '` + cancelled.ID + `'`,
			`INSERT INTO callback_attempts (callback_id, attempt, started_at) VALUES ('` + active.ID + `', 1, '2025-06-02T09:00:02.000000000Z')`,
			`INSERT INTO callback_attempts (callback_id, attempt, started_at) VALUES ('` + cancelled.ID + `', 1, '2025-06-02T09:00:02.000000000Z')`,
			`UPDATE contacts SET state = 'connected', agent = 'alice', left_at = '2025-06-02T09:00:03.000000000Z',
				connected_at = '2025-06-02T09:00:03.000000000Z' WHERE id = '` + active.ID + `'`,
		} {
			if _, err := tx.Exec(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	clk.Advance(time.Minute)
	q := mustNew(t, db, WithClock(clk), WithLogger(quiet), WithConfig(cfg))
	attempts := handleAttempts(q)
	n, err := q.Recover(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("recover: %d calls abandoned, %v", n, err)
	}
	r := readCallback(t, db, active.ID)
	if r.state != ivr.CallbackPending || r.lastResult != ResultInterrupted || r.attempts != 1 ||
		r.next.String != store.FormatTime(clk.Now()) || r.contactState != StateWaiting || r.contactAgt != "" {
		t.Errorf("active request after recover %+v", r)
	}
	if got := readAttempts(t, db, active.ID); len(got) != 1 || got[0].result != ResultInterrupted || !got[0].ended {
		t.Errorf("attempts %+v", got)
	}
	if r := readCallback(t, db, cancelled.ID); r.state != ivr.CallbackCancelled || r.contactState != StateClosed {
		t.Errorf("cancelled request after recover %+v", r)
	}
	b, err := q.Board(t.Context())
	if err != nil || len(b.Queues) != 1 || len(b.Queues[0].Waiting) != 3 {
		t.Fatalf("board %+v %v", b, err)
	}
	// In order of place: active (joined a minute before), later, due.
	w := b.Queues[0].Waiting
	if w[0].ID != active.ID || w[1].ID != later.ID || w[2].ID != due.ID || w[0].Callback == nil ||
		w[0].Callback.Attempts != 1 || w[1].Callback.NextAttempt == nil || !w[1].Callback.NextAttempt.Equal(start.Add(time.Hour)) {
		t.Errorf("waiting %+v", w)
	}
	list, err := q.List(t.Context(), "sales")
	if err != nil || len(list) != 3 || list[0].Callback == nil || list[0].Callback.Number != "0633333333" {
		t.Errorf("list %+v %v", list, err)
	}
	// Agents come: the interrupted caller-first request's turn, then the
	// due one offered; the one not yet due waits.
	signIn(t, q, "alice")
	got := map[string]ivr.CallbackAttempt{}
	for range 2 {
		at := nextAttempt(t, attempts)
		got[at.Callback.ID] = at
	}
	if at := got[active.ID]; at.Attempt != 2 {
		t.Errorf("attempt %+v, want the second of %s", at, active.ID)
	} else if ev := nextEvent(t, at.Waiting); ev.Kind != ivr.EventTurn {
		t.Errorf("event %+v, want the turn", ev)
	}
	if at, ok := got[due.ID]; !ok {
		t.Fatalf("attempts %+v, want one of %s", got, due.ID)
	} else {
		offered(t, at.Waiting, "alice")
	}
	signIn(t, q, "bob")
	if state, _ := callbackState(t, q, later.ID); state != ivr.CallbackPending {
		t.Errorf("request not yet due is %s", state)
	}
}

// Callback requests have figures of their own and leave the calls'
// service level alone.
func TestCallbackStats(t *testing.T) {
	cfg := config(agentCfg("alice"))
	cfg.WrapUp = 0
	q, clk, _ := newQueues(t, WithConfig(cfg))
	attempts := handleAttempts(q)
	ctx := t.Context()
	for range 3 {
		if err := q.CallbackOffered(ctx, "sales"); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.CallbackOffered(ctx, "bad name"); err == nil {
		t.Error("bad queue name counted")
	}
	done := requestCallback(t, q, "0611111111")
	failed := requestCallback(t, q, "0622222222", maxAttempts(1))
	cancelled := requestCallback(t, q, "0633333333", notBefore(start.Add(time.Hour)))
	requestCallback(t, q, "0644444444", notBefore(start.Add(time.Hour)))
	clk.Advance(2 * time.Minute)
	signIn(t, q, "alice")
	at := nextAttempt(t, attempts)
	if at.Callback.ID != done.ID {
		t.Fatalf("attempt of %s", at.Callback.ID)
	}
	o := offered(t, at.Waiting, "alice")
	at.Waiting.Answer(ctx, o.ID, newLeg())
	clk.Advance(30 * time.Second)
	at.Waiting.Reached(ctx, "out-1")
	clk.Advance(time.Minute)
	at.Waiting.End(ctx, ivr.EndedByCaller)
	at = nextAttempt(t, attempts)
	if at.Callback.ID != failed.ID {
		t.Fatalf("attempt of %s", at.Callback.ID)
	}
	offered(t, at.Waiting, "alice")
	at.Waiting.Failed(ctx, ivr.CallbackNoAnswer, time.Time{})
	q.CancelCallback(ctx, cancelled.ID, "")
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, iv := range st.Intervals {
		if len(iv.Queues) != 1 {
			t.Fatalf("%s: queues %+v", iv.Name, iv.Queues)
		}
		s := iv.Queues[0]
		cb := s.Callbacks
		if cb.Offered != 3 || cb.Requested != 4 || cb.Completed != 1 || cb.Failed != 1 || cb.Cancelled != 1 || cb.Open != 1 {
			t.Errorf("%s: callbacks %+v", iv.Name, cb)
		}
		// To the agent taking it, 2 min after the request.
		if cb.AverageTimeToCallbackSeconds == nil || *cb.AverageTimeToCallbackSeconds != 120 {
			t.Errorf("%s: time to callback %v, want 120", iv.Name, cb.AverageTimeToCallbackSeconds)
		}
		// From the agent taking it: the customer's phone rang 30 s of it.
		if cb.AverageTalkSeconds == nil || *cb.AverageTalkSeconds != 90 {
			t.Errorf("%s: callback talk %v, want 90", iv.Name, cb.AverageTalkSeconds)
		}
		if s.Offered != 0 || s.Answered != 0 || s.ServiceLevel != nil || s.AbandonRate != nil || s.AverageTalkSeconds != nil ||
			s.Waiting != 0 || s.LongestWaitSeconds != 0 {
			t.Errorf("%s: the calls' figures count callbacks: %+v", iv.Name, s)
		}
		if iv.Total.Callbacks.Completed != 1 || iv.Total.Callbacks.Open != 1 {
			t.Errorf("%s: total %+v", iv.Name, iv.Total.Callbacks)
		}
	}
}

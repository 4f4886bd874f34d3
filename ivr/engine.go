package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Flows gives the engine the flow set to use for a new call. A reloader
// swaps the set it returns; a call keeps the set it started with.
type Flows interface {
	Current() *FlowSet
}

// FlowsFunc adapts a function to Flows.
type FlowsFunc func() *FlowSet

// Current calls f.
func (f FlowsFunc) Current() *FlowSet { return f() }

// Engine runs flows against calls. One Engine serves any number of calls at
// once; each call is served by the goroutine that calls Serve.
//
// Keys, prompts and timers follow these rules:
//
//  1. Each call has one type-ahead buffer of at most 32 keys. Every key the
//     driver delivers is appended to it whenever the engine waits (prompts,
//     menus, collects, queue hold); keys beyond 32 are dropped. The engine
//     reads DTMF only from the call's own goroutine.
//  2. Play node, interruptible: a key stops the prompt at once (Playback.Stop
//     as soon as the key arrives) and stays buffered for the next menu or
//     collect. If the buffer already holds a key when the node starts, the
//     prompt is skipped. Not interruptible: the prompt plays to its end and
//     keys are only buffered.
//  3. Menu or collect start: with type_ahead "flush" the buffer is cleared;
//     with "keep" (the default) buffered keys are consumed first, so an
//     interruptible prompt is not played at all when a key is waiting, and
//     that key is the first input.
//  4. A key during an interruptible menu or collect prompt stops it at once
//     and counts as the first input: it is never lost. During a
//     non-interruptible prompt keys are buffered and consumed, in order, when
//     the prompt ends.
//  5. The no-input (first digit) timer starts when the prompt ends, or at the
//     first key if that comes first: a barge-in key skips it entirely. In a
//     collect, the inter-digit timer starts after each key and restarts on
//     every new one; it replaces the no-input timer as soon as one digit is in.
//  6. Menu: the first key is the choice. A key with no option is invalid. A
//     failure (invalid key or no input) costs a try: the rest of the buffer is
//     discarded, then invalid_prompt or no_input_prompt plays (interruptible
//     like the menu's prompt). Keys pressed from the moment that prompt starts
//     are kept for the next try. Tries after the first play retry_prompt if
//     set, else prompt. After `tries` failures the call goes to on_failure,
//     or, without one, hears the flow's "goodbye" word if it has one and is
//     hung up.
//  7. Operator: the flow's operator key goes to the operator node at once from
//     any menu that has no option on that key, and from any collect when it is
//     the first key of an entry.
//  8. Collect: keys accumulate until max_digits, the terminator (never stored),
//     the inter-digit timeout, or no input at all. The entry is then checked
//     against min_digits, max_digits and pattern (digits 0-9 only when there
//     is no pattern); a bad entry is a failure handled as in rule 6. A good
//     one is stored in the collect's variable. Sensitive collects store a
//     masked entry ('*' per key) in the call record and logs, and their
//     variable is never copied to the call record or the queue contact.
//  9. Keys left over after a collect finished on max_digits or the terminator
//     stay in the buffer for the next node.
//  10. Hold music in a queue is not interruptible; keys are buffered, except
//     the operator key (rule 20).
//  11. A call visiting more nodes than the step limit (default 1000) without
//     reaching a menu, collect or queue ends with ErrLoop.
//
// Recording consent and recordings follow these rules (see recording.go for
// the law behind them):
//
//  12. A consent node asks once per call. When the call already has an
//     answer, or Recordings.FindConsent has one for the call's id (a call
//     that comes back into ivrd after a transfer), the node plays nothing
//     and reuses it.
//  13. The notice is not interruptible: keys pressed during it are buffered
//     as type-ahead for the next menu, except the refuse key, which stops
//     the notice at once and refuses. After the notice the node waits
//     `window` for the refuse key; the window passing accepts, and so does
//     any other key, pressed during the notice (accepted when it ends) or
//     during the window (accepted at once); such keys stay buffered. Keys
//     already buffered when the node starts are left for the next menu and
//     never refuse: a refusal is an answer to the notice. The refuse key is
//     consumed.
//  14. The answer is stored with Recordings.SaveConsent, durably, before
//     anything else happens. An answer that cannot be stored counts as a
//     refusal. The variable recording_consent is then set to "accepted" or
//     "refused"; it travels to the queue contact and the call record. A
//     refusal stops and discards a recording in progress, plays
//     refused_prompt to its end and goes to on_refuse (default next).
//  15. A recording starts only with an accepted, stored consent: at a record
//     node (start), or when an agent takes the call from a queue node with
//     record: true. A call has at most one recording at a time. Without an
//     accepted consent nothing is recorded, on any leg.
//  16. A sensitive collect pauses the recording for its whole run (prompts
//     and keys): the recording gets silence, the pause is noted in it and
//     logged.
//  17. A recording runs until a record node stops it or the call leaves
//     the flow. When an agent takes the call from a queue with record: true,
//     the recording (started then, or already running) goes on until the
//     call ends. So it does when a driver hands the call to a queue outside
//     ivrd with record: true and the call says when it is over (Lingerer).
//
// A call waiting in a queue reaches an agent as follows (see agent.go):
//
//  18. The queue offers the call to one agent at a time (Waiting.Events).
//     For an agent with a phone the engine has the driver ring it (Dialer)
//     while the caller stays on hold; the phone answering is the agent
//     taking the call (Waiting.Answer). A phone that is busy, declines,
//     rings out or fails is reported (Waiting.Decline) and the queue moves
//     on; an offer the queue withdraws cancels the ringing. An agent in the
//     browser accepts on the desk and the queue hands the engine the leg,
//     taken once it is connected (Connecting).
//  19. When an agent takes the call, the hold stops, the recording starts
//     or goes on with record: true (a recording of a queue without it
//     stops), and the driver bridges caller and agent (Bridger) until one
//     hangs up; the engine then hangs up the other and tells the queue who
//     ended the conversation (Waiting.End).
//  20. The operator key pressed on hold leaves the queue ("transferred")
//     for the operator node, unless that node is the queue node itself; a
//     phone ringing for the call is cancelled. If the operator's way leads
//     to the same queue without asking anything (no menu or collect), the
//     call joins it again at the place it had (its first arrival time).
//  21. ${queue.position} and ${queue.ewt} in a hold prompt are worked out
//     from Waiting.Position each time the prompt plays or, with a Holder,
//     each time the driver announces it. They never reach the call record
//     or the contact.
//
// Callbacks (see callback.go):
//
//  22. A queue node with `callback` takes its callback key (default 1) on
//     hold like the operator key: the call leaves the queue
//     ("transferred") for the callback node, and the request that node
//     stores keeps the place the call had (its arrival time). With
//     offer_callback_after, the offer prompt is played once, before a hold
//     prompt, when the estimated wait has grown past it. A callback node
//     first looks for a request pending for the number (in its queue, or
//     any queue when it has none): 1 keeps it, 2 cancels it. Otherwise it
//     reads the number back (1 confirms, 2 asks for another, ended by #),
//     with ask_slot asks for as soon as possible (1) or an hour (2, then
//     0-23 and #: the first attempt waits for it, in open hours), stores
//     the request durably, then says when to expect the call: in
//     ${callback.minutes} minutes, or from ${callback.hour} h
//     ${callback.minute} when the calendar is closed (the first attempt
//     then waits for the opening). The call's outcome is "callback". A
//     number that is not 4 to 15 digits (a hidden caller ID) is asked for;
//     no valid number, or the daily limit, plays the failure prompt and
//     goes to on_failure.
//  23. An attempt (ServeCallback) calls the customer through the
//     Originator: agent-first, once an agent has taken the request (phone
//     answered or browser leg connected); caller-first, when the queue says
//     it is the request's turn, the customer then waiting on hold at the
//     head of the queue. The customer hears the greeting and, when the
//     conversation is recorded, the recording notice with its refusal
//     window: the consent given in the first call does not carry over.
//     The conversation then goes as in rules 19 and 17. A customer not
//     reached (busy, no answer, rejected, failure) is reported with the
//     next attempt's time: the retry delay later, moved to the calendar's
//     next opening; none after max_attempts.
type Engine struct {
	flows      Flows
	clock      Clock
	queue      Queue
	calls      CallLog
	recordings Recordings
	originator Originator
	logger     *slog.Logger
	maxSteps   int
	active     atomic.Int64
	// handed counts the recordings of calls that left ivrd not yet closed.
	handed sync.WaitGroup
}

// NewEngine returns an engine that takes its flows from flows.
func NewEngine(flows Flows, opts ...Option) *Engine {
	e := &Engine{
		flows:    flows,
		clock:    SystemClock{},
		logger:   slog.Default(),
		maxSteps: defaultMaxSteps,
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Active returns the number of calls being served.
func (e *Engine) Active() int { return int(e.active.Load()) }

// Wait blocks until the recordings of calls handed to a queue outside ivrd
// are closed (each closes when its call is gone), or ctx is done. A server
// calls it on shutdown, after ending its calls, so that no recording is cut
// short.
func (e *Engine) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.handed.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Serve runs the flow for the call's dialled number until the flow ends or
// ctx is done. It owns the call from the caller's goroutine: it answers,
// plays, collects, hands off, and hangs up when the flow ends. When an agent
// takes the call from a queue, Serve returns when their conversation ends.
//
// The flow set is read once, when the call starts, so a reload never changes
// a call in progress. Serve returns nil when the call ended normally (end of
// flow, handoff, caller hang-up) and an error otherwise.
func (e *Engine) Serve(ctx context.Context, call Call, driver string) error {
	e.active.Add(1)
	defer e.active.Add(-1)

	// Serve stays small: its frame is on the call's stack for the whole
	// call, while begin's is not.
	s, err := e.begin(ctx, call, driver)
	if err != nil {
		return err
	}
	if err := call.Answer(ctx); err != nil {
		return s.finish(ctx, fmt.Errorf("answer call: %w", err))
	}
	return s.finish(ctx, s.run(ctx))
}

// begin picks the call's flow and saves its first record. Without a flow
// it ends the call itself and returns the error.
func (e *Engine) begin(ctx context.Context, call Call, driver string) (*session, error) {
	rec := &CallRecord{
		ID:        call.ID(),
		Driver:    driver,
		Caller:    call.Caller(),
		Dialled:   call.Dialled(),
		StartedAt: e.clock.Now(),
	}
	var (
		flow *Flow
		ok   bool
	)
	if set := e.flows.Current(); set != nil {
		flow, ok = set.Lookup(rec.Dialled)
	}
	if !ok {
		log := e.logger.With("call_id", rec.ID)
		log.Warn("no flow for dialled number", "dialled", rec.Dialled)
		err := fmt.Errorf("route call to %q: %w", rec.Dialled, ErrNoFlow)
		rec.Outcome = OutcomeError
		rec.Error = err.Error()
		end := e.clock.Now()
		rec.EndedAt = &end
		e.save(ctx, log, rec)
		e.hangup(ctx, log, call, "no flow")
		return nil, err
	}

	// One logger with all the call's attributes: each With copies them.
	log := e.logger.With("call_id", rec.ID, "flow", flow.Name, "version", flow.Version)
	s := newSession(e, call, flow, rec, log)
	s.log.Info("call started", "caller", rec.Caller, "dialled", rec.Dialled, "driver", driver)
	s.snapshot()
	e.save(ctx, s.log, rec)
	return s, nil
}

// save writes the call record; a failing call log never fails the call.
func (e *Engine) save(ctx context.Context, log *slog.Logger, r *CallRecord) {
	if e.calls == nil {
		return
	}
	if err := e.calls.SaveCall(context.WithoutCancel(ctx), r); err != nil {
		log.Warn("save call record", "err", err)
	}
}

// hangupTimeout bounds the hang-up sent after the call's context ended
// (shutdown, media timeout).
const hangupTimeout = 5 * time.Second

func (e *Engine) hangup(ctx context.Context, log *slog.Logger, call Call, reason string) {
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), ErrCallerHangup) {
			return // nothing left to hang up
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
		defer cancel()
	}
	if err := call.Hangup(ctx, reason); err != nil {
		log.Warn("hang up call", "err", err)
	}
}

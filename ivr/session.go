package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"
)

// typeAheadSize bounds the type-ahead buffer (rule 1).
const typeAheadSize = 32

// key is a buffered key press and where it sits in the call record's
// digits, so a sensitive collect can mask it when it consumes it.
type key struct {
	DTMF
	pos int
}

// session is one call being served. Only the call's goroutine touches it.
type session struct {
	e     *Engine
	call  Call
	flow  *Flow
	rec   *CallRecord
	log   *slog.Logger
	idler Idler

	buf       []key  // grows on demand up to typeAheadSize: most calls buffer few keys
	digits    []rune // every key pressed, masked once consumed by a sensitive collect
	vars      map[string]string
	sensitive map[string]bool // variables never copied to records or contacts
	steps     int
	visit     int     // index of the current visit in rec.Visits
	node      *Node   // node being run, for Idle
	waiting   Waiting // queue place while queued
	// contactCopy is the contact as the queue got it, for the agents'
	// phones.
	contactCopy Contact
	// kept is the place the caller had in a queue it left with the
	// operator key, taken back if the operator's way leads to the same
	// queue (rule 20).
	kept *keptPlace
	// left is the queue the caller left with its callback key, for the
	// callback node that follows (rule 22).
	left *leftQueue
	// ring is the agent's phone being rung for the current offer.
	ring *ringing
	// pending is the queue event wait just received.
	pending QueueEvent
	// conn is the agent who took the call, once connected.
	conn *connection
	// transferred: a Transferer took the call to an external queue; it is
	// no longer ivrd's to hang up.
	transferred bool
	consent     *Consent   // the caller's answer to the recording notice, once known
	recording   *recording // the recording in progress, nil when none
	// offeredCallback: the queue's callback offer was played.
	offeredCallback bool
	// warnedNoRecordings: the missing recordings store was logged.
	warnedNoRecordings bool
}

func newSession(e *Engine, call Call, flow *Flow, rec *CallRecord, log *slog.Logger) *session {
	rec.Flow = flow.Name
	rec.FlowVersion = flow.Version
	rec.Language = flow.Language
	s := &session{
		e:    e,
		call: call,
		flow: flow,
		rec:  rec,
		log:  log,
		vars: map[string]string{
			"caller":   rec.Caller,
			"dialled":  rec.Dialled,
			"call_id":  rec.ID,
			"language": flow.Language,
		},
		sensitive: map[string]bool{},
	}
	s.idler, _ = e.clock.(Idler)
	return s
}

// run walks the flow from its entry until a node ends the call.
func (s *session) run(ctx context.Context) error {
	name := s.flow.Entry
	for name != "" {
		n, ok := s.flow.Nodes[name]
		if !ok {
			return fmt.Errorf("go to node %q: %w", name, ErrUnknownNode)
		}
		switch n.Kind {
		case KindMenu, KindCollect, KindQueue:
			s.steps = 0
			if n.Kind != KindQueue {
				// The operator's way asks the caller something: the
				// place left with the operator key is given up.
				s.kept = nil
			}
		default:
			s.steps++
			if s.steps > s.e.maxSteps {
				return fmt.Errorf("run node %q: %w", name, ErrLoop)
			}
		}
		s.enter(n)
		next, err := s.step(ctx, n)
		if err != nil {
			return err
		}
		if s.rec.Outcome == OutcomeConnected {
			return nil
		}
		if n.Kind == KindMenu || n.Kind == KindCollect {
			// The caller just answered: let supervisors follow a live call.
			s.snapshot()
			s.e.save(ctx, s.log, s.rec)
		}
		name = next
	}
	return nil
}

func (s *session) step(ctx context.Context, n *Node) (string, error) {
	switch n.Kind {
	case KindPlay:
		return s.play(ctx, n)
	case KindMenu:
		return s.menu(ctx, n)
	case KindCollect:
		return s.collect(ctx, n)
	case KindSet:
		s.assign(n.Set)
		return n.Next, nil
	case KindBranch:
		return s.branch(ctx, n)
	case KindGoto:
		return n.Goto, nil
	case KindQueue:
		return s.enqueue(ctx, n)
	case KindHangup:
		return "", s.hangupNode(ctx, n)
	case KindConsent:
		return s.consentNode(ctx, n)
	case KindRecord:
		return s.recordNode(ctx, n)
	case KindCallback:
		return s.callbackNode(ctx, n)
	}
	return "", fmt.Errorf("run node %q: unknown kind %q", n.Name, n.Kind)
}

// enter records a visit to n.
func (s *session) enter(n *Node) {
	s.node = n
	s.visit = len(s.rec.Visits)
	s.rec.Visits = append(s.rec.Visits, Visit{Node: n.Name, Kind: n.Kind, At: s.e.clock.Now()})
	s.log.Debug("node", "node", n.Name, "kind", n.Kind)
}

// result appends r to the result of the current visit.
func (s *session) result(r string) {
	v := &s.rec.Visits[s.visit]
	if v.Result == "" {
		v.Result = r
	} else {
		v.Result += "; " + r
	}
}

// finish sets the outcome from how the flow ended, hangs up when ivrd ends
// the call, and saves the final record.
func (s *session) finish(ctx context.Context, err error) error {
	s.stopRinging(ctx, "call ended")
	if s.recording != nil {
		s.stopRecording(ctx, "call left the flow")
	}
	rec := s.rec
	var ret error
	switch {
	case s.transferred:
		// The call left ivrd (its channel may already be gone from here).
	case rec.Outcome == OutcomeConnected || rec.Outcome == OutcomeAbandoned || rec.Outcome == OutcomeHangup:
		// Decided in the queue or by a hangup node; the driver may since have
		// cancelled the context because of that very hang-up.
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		switch {
		case rec.Outcome == OutcomeCallback:
			// The caller hung up after asking to be called back.
		case errors.Is(cause, ErrCallerHangup):
			rec.Outcome = OutcomeHungUpInIVR
		case errors.Is(cause, ErrMediaTimeout):
			rec.Outcome = OutcomeHungUpInIVR
			rec.Error = cause.Error()
		default:
			rec.Outcome = OutcomeError
			rec.Error = cause.Error()
			ret = fmt.Errorf("serve call: %w", cause)
		}
		s.e.hangup(ctx, s.log, s.call, "call ended")
	case err != nil:
		rec.Outcome = OutcomeError
		rec.Error = err.Error()
		ret = fmt.Errorf("serve call: %w", err)
		s.e.hangup(ctx, s.log, s.call, "error")
	default:
		if rec.Outcome != OutcomeCallback {
			rec.Outcome = OutcomeHangup
		}
		s.e.hangup(ctx, s.log, s.call, "flow ended")
	}
	end := s.e.clock.Now()
	rec.EndedAt = &end
	s.snapshot()
	s.e.save(ctx, s.log, rec)
	if ret != nil {
		s.log.Error("call ended", "outcome", rec.Outcome, "err", ret)
	} else {
		s.log.Info("call ended", "outcome", rec.Outcome)
	}
	return ret
}

// snapshot copies the digits and the non-sensitive variables to the record.
func (s *session) snapshot() {
	s.rec.Digits = string(s.digits)
	s.rec.Vars = s.publicVars()
}

func (s *session) publicVars() map[string]string {
	v := maps.Clone(s.vars)
	for k := range s.sensitive {
		delete(v, k)
	}
	// The queue's position and wait say nothing of the caller.
	delete(v, VarQueuePosition)
	delete(v, VarQueueEWT)
	return v
}

// push appends a key to the type-ahead buffer and the call record.
func (s *session) push(d DTMF) {
	s.digits = append(s.digits, d.Digit)
	if len(s.buf) == typeAheadSize {
		s.log.Warn("type-ahead buffer full, key dropped")
		return
	}
	s.buf = append(s.buf, key{DTMF: d, pos: len(s.digits) - 1})
	if s.node != nil && s.node.Collect != nil && s.node.Collect.Sensitive {
		s.log.Debug("key", "digit", "*")
	} else {
		s.log.Debug("key", "digit", string(d.Digit))
	}
}

// pop takes the oldest buffered key; the buffer must not be empty.
func (s *session) pop() key {
	k := s.buf[0]
	s.buf = append(s.buf[:0], s.buf[1:]...)
	return k
}

// flush discards the type-ahead buffer.
func (s *session) flush() {
	if len(s.buf) > 0 {
		s.log.Debug("type-ahead discarded", "keys", len(s.buf))
	}
	s.buf = s.buf[:0]
}

// mask hides a consumed key in the call record.
func (s *session) mask(k key) { s.digits[k.pos] = '*' }

// event is what ended a wait.
type event int

const (
	evKey       event = iota + 1 // a key was appended to the buffer
	evPlayed                     // the playback ended
	evTimeout                    // the timer fired
	evConnected                  // an agent took the call
	evQueue                      // the queue sent an event (s.pending)
	evAnswered                   // the agent's phone answered
	evRingEnded                  // the agent's phone stopped ringing unanswered
	evOperator                   // the operator key, on hold
	evCallback                   // the queue's callback key, on hold
)

// waitSpec is what a wait watches besides the call's context and keys.
type waitSpec struct {
	pb       Playback
	timer    Timer
	timeout  time.Duration // the timer's duration, for Idle
	events   <-chan QueueEvent
	answered <-chan struct{} // the ringing phone answered
	ringDone <-chan struct{} // the ringing phone's leg ended
	what     WaitFor
}

// wait blocks until a key arrives, the playback ends, the timer fires, an
// agent connects, or the call's context is done (its cause is returned).
func (s *session) wait(ctx context.Context, w waitSpec) (event, error) {
	var played <-chan struct{}
	if w.pb != nil {
		played = w.pb.Done()
	}
	var fired <-chan time.Time
	if w.timer != nil {
		fired = w.timer.C()
	}
	if s.idler != nil {
		// The queue's events come in bursts (an offer, then its
		// acceptance): one already there is taken before the engine
		// declares itself idle, so that a test clock moves on only when
		// nothing is left to handle.
		select {
		case qe := <-w.events:
			s.pending = qe
			return evQueue, nil
		case <-w.answered:
			return evAnswered, nil
		case <-w.ringDone:
			return evRingEnded, nil
		default:
		}
		s.idler.Idle(Wait{CallID: s.rec.ID, Node: s.node.Name, Kind: s.node.Kind, For: w.what, Timeout: w.timeout})
	}
	select {
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	case d := <-s.call.DTMF():
		s.push(d)
		return evKey, nil
	case <-played:
		return evPlayed, nil
	case <-fired:
		return evTimeout, nil
	case qe := <-w.events:
		s.pending = qe
		return evQueue, nil
	case <-w.answered:
		return evAnswered, nil
	case <-w.ringDone:
		return evRingEnded, nil
	}
}

// timer starts a timer on the engine's clock.
func (s *session) timer(d time.Duration) Timer { return s.e.clock.NewTimer(d) }

// prompt plays p to its end or, when interruptible, until a key arrives
// (rule 2 and 4): the key is left in the buffer. It reports whether a key
// stopped the prompt.
func (s *session) prompt(ctx context.Context, p Prompt, interruptible bool) (bool, error) {
	audio := s.expand(p)
	if len(audio) == 0 {
		return false, nil
	}
	pb, err := s.call.Play(ctx, audio)
	if err != nil {
		if ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		return false, fmt.Errorf("play prompt: %w", err)
	}
	for {
		ev, err := s.wait(ctx, waitSpec{pb: pb, what: WaitPrompt})
		if err != nil {
			pb.Stop()
			return false, err
		}
		switch ev {
		case evPlayed:
			return false, nil
		case evKey:
			if interruptible {
				pb.Stop()
				return true, nil
			}
		}
	}
}

package ivr

import (
	"context"
	"encoding/json"
	"time"
)

// Queue is the shared omnichannel routing queue as the engine sees it. The
// routing package implements it; the engine only puts contacts in and learns
// when they leave.
type Queue interface {
	// Enqueue puts a contact in the named queue and returns its place.
	Enqueue(ctx context.Context, c Contact) (Waiting, error)
}

// Contact is everything the IVR learned about the caller, so the agent never
// makes the customer repeat.
type Contact struct {
	ID          string            // assigned by the queue when empty
	Channel     string            // "voice", "webrtc", "chat", "email"
	Queue       string            // queue name
	CallID      string            // the call's id, for voice contacts
	Caller      string            // caller number / address
	Dialled     string            // number dialled
	Language    string            // "fr", "en"
	Intent      string            // qualified reason for the call
	Priority    int               // higher is served first
	Skills      []string          // skills an agent needs
	Vars        map[string]string // variables collected by the flow (sensitive ones excluded)
	Flow        string            // flow name
	FlowVersion string            // flow version
	EnqueuedAt  time.Time
	// Path is the IVR path: each node the call went through, with what
	// happened there ("motif: key 2"), for the agent's screen-pop.
	Path []string
	// Record asks for the conversation with the agent to be recorded (the
	// queue node's record: true). Whoever records must also check
	// Vars[VarConsent]: only "accepted" allows it.
	Record bool
}

// Waiting is a contact's place in a queue. The engine reads its events
// and reports what became of the offers and of the conversation; see
// agent.go for how a call reaches an agent.
type Waiting interface {
	// ContactID is the id the queue gave the contact.
	ContactID() string
	// Events delivers the offers of the call to agents, their withdrawal,
	// and the legs of agents who accepted in the browser. Never closed.
	Events() <-chan QueueEvent
	// Position says where the contact stands now, for the hold prompt
	// (${queue.position}, ${queue.ewt}).
	Position(ctx context.Context) (QueuePosition, error)
	// Answer reports that the agent of offerID took the call on leg: the
	// contact is connected to that agent. It fails with an error wrapping
	// ErrOfferOver when the offer no longer stands (withdrawn, or the
	// contact left); the engine then hangs up the leg.
	Answer(ctx context.Context, offerID string, leg Leg) error
	// Decline reports that the agent's phone did not take offerID; reason
	// is one of DeclineBusy, DeclineRejected, DeclineNoAnswer or
	// DeclineFailed. The queue offers the call to another agent.
	Decline(ctx context.Context, offerID, reason string) error
	// Leave removes a contact that no agent took: reason "abandoned" when
	// the caller hung up, "timeout" after max wait, "transferred" when the
	// caller left for another queue (the operator key). After Answer it
	// does nothing.
	Leave(ctx context.Context, reason string) error
	// End reports that the conversation with the agent ended, by
	// EndedByCaller, EndedByAgent or EndedByIVRD; the agent then wraps up.
	End(ctx context.Context, by string) error
}

// CallLog stores call records. The engine saves the record when the call
// starts, at handoff, and when it ends (the same ID each time: an upsert).
type CallLog interface {
	SaveCall(ctx context.Context, r *CallRecord) error
}

// CallRecord is the row written for each call.
type CallRecord struct {
	ID          string     `json:"id"`
	Driver      string     `json:"driver"` // "sip", "ari", "webrtc"
	Caller      string     `json:"caller"`
	Dialled     string     `json:"dialled"`
	Flow        string     `json:"flow"`
	FlowVersion string     `json:"flow_version"`
	Language    string     `json:"language"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	Visits      []Visit    `json:"visits"`
	Digits      string     `json:"digits"`  // every key the caller pressed, in order (sensitive ones masked)
	Outcome     Outcome    `json:"outcome"` // "" while in progress
	Queue       string     `json:"queue,omitempty"`
	ContactID   string     `json:"contact_id,omitempty"`
	// QueuedAt is when the call joined the queue: the IVR part lasted
	// from StartedAt to QueuedAt.
	QueuedAt *time.Time `json:"queued_at,omitempty"`
	// QueueWait is how long the caller waited in the queue (set when the
	// call left it: connected, abandoned or timed out).
	QueueWait time.Duration `json:"-"`
	// Agent is who took the call, ConnectedAt when; Talk is how long the
	// conversation lasted and EndedBy who ended it (EndedByCaller, ...).
	Agent       string            `json:"agent,omitempty"`
	ConnectedAt *time.Time        `json:"connected_at,omitempty"`
	Talk        time.Duration     `json:"-"`
	EndedBy     string            `json:"ended_by,omitempty"`
	Vars        map[string]string `json:"vars,omitempty"`
	Error       string            `json:"error,omitempty"`
}

// Visit is one node the call went through.
type Visit struct {
	Node   string    `json:"node"`
	Kind   NodeKind  `json:"kind"`
	At     time.Time `json:"at"`
	Result string    `json:"result,omitempty"` // "key 1", "no input", "invalid 7", "collected", ...
}

// Outcome is how a call left the IVR.
type Outcome string

// Outcomes.
const (
	OutcomeInProgress  Outcome = ""
	OutcomeHungUpInIVR Outcome = "hung_up_in_ivr" // caller hung up during the flow
	OutcomeHangup      Outcome = "ivr_hangup"     // the flow ended the call
	OutcomeQueued      Outcome = "queued"         // handed to a queue (see Queue)
	OutcomeAbandoned   Outcome = "abandoned"      // hung up while waiting in the queue
	OutcomeConnected   Outcome = "connected"      // an agent took it
	OutcomeCallback    Outcome = "callback"       // the caller asked to be called back
	OutcomeNotReached  Outcome = "not_reached"    // a callback whose customer did not answer
	OutcomeError       Outcome = "error"
)

// MarshalJSON writes the durations in seconds, the unit API users expect:
// queue_wait_seconds, talk_seconds, and ivr_seconds (from the start to the
// queue).
func (r CallRecord) MarshalJSON() ([]byte, error) {
	type plain CallRecord
	v := struct {
		plain
		IVRSeconds       float64 `json:"ivr_seconds,omitempty"`
		QueueWaitSeconds float64 `json:"queue_wait_seconds,omitempty"`
		TalkSeconds      float64 `json:"talk_seconds,omitempty"`
	}{plain: plain(r), QueueWaitSeconds: r.QueueWait.Seconds(), TalkSeconds: r.Talk.Seconds()}
	if r.QueuedAt != nil {
		v.IVRSeconds = r.QueuedAt.Sub(r.StartedAt).Seconds()
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *CallRecord) UnmarshalJSON(b []byte) error {
	type plain CallRecord
	var v struct {
		plain
		QueueWaitSeconds float64 `json:"queue_wait_seconds"`
		TalkSeconds      float64 `json:"talk_seconds"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = CallRecord(v.plain)
	r.QueueWait = time.Duration(v.QueueWaitSeconds * float64(time.Second))
	r.Talk = time.Duration(v.TalkSeconds * float64(time.Second))
	return nil
}

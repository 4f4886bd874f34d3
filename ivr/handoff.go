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
	// Record asks for the conversation with the agent to be recorded (the
	// queue node's record: true). Whoever records must also check
	// Vars[VarConsent]: only "accepted" allows it.
	Record bool
}

// Waiting is a contact's place in a queue.
type Waiting interface {
	// ContactID is the id the queue gave the contact.
	ContactID() string
	// Connected is closed when an agent takes the contact.
	Connected() <-chan struct{}
	// Leave removes the contact from the queue: reason "abandoned" when the
	// caller hung up, "timeout" after max wait, "connected" after delivery.
	Leave(ctx context.Context, reason string) error
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
	// QueueWait is how long the caller waited in the queue (set when the
	// call left it: connected, abandoned or timed out).
	QueueWait time.Duration     `json:"-"`
	Vars      map[string]string `json:"vars,omitempty"`
	Error     string            `json:"error,omitempty"`
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
	OutcomeError       Outcome = "error"
)

// MarshalJSON writes QueueWait as queue_wait_seconds, the unit API users expect.
func (r CallRecord) MarshalJSON() ([]byte, error) {
	type plain CallRecord
	return json.Marshal(struct {
		plain
		QueueWaitSeconds float64 `json:"queue_wait_seconds,omitempty"`
	}{plain(r), r.QueueWait.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *CallRecord) UnmarshalJSON(b []byte) error {
	type plain CallRecord
	var v struct {
		plain
		QueueWaitSeconds float64 `json:"queue_wait_seconds"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = CallRecord(v.plain)
	r.QueueWait = time.Duration(v.QueueWaitSeconds * float64(time.Second))
	return nil
}

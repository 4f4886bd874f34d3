package routing

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ivrd/ivrd/ivr"
)

// Channels a contact can arrive on.
const (
	ChannelVoice  = "voice"
	ChannelWebRTC = "webrtc"
	ChannelChat   = "chat"
	ChannelEmail  = "email"
	// ChannelCallback is a caller's request to be called back (see
	// callback.go): it waits in the queue at the caller's place and is
	// served like a call when its turn comes. It is not a live call: it
	// survives restarts.
	ChannelCallback = "callback"
)

// States of a contact. A contact is waiting until it is connected to an
// agent or leaves: abandoned (the customer went away), timeout (waited the
// flow's maximum), transferred (the caller left for another queue or way,
// the operator key), closed (ended without an agent, for chat and email).
const (
	StateWaiting     = "waiting"
	StateAbandoned   = "abandoned"
	StateTimeout     = "timeout"
	StateConnected   = "connected"
	StateClosed      = "closed"
	StateTransferred = "transferred"
)

// Limits on what a contact may carry; they keep one contact from filling the
// database or the agent's screen.
const (
	MaxNameLen  = 64  // queue names, skills, variable names
	MaxFieldLen = 256 // caller, intent, variable values, ...
	MaxSkills   = 32
	MaxVars     = 64
	MaxPath     = 256 // steps of the IVR path
	MinPriority = 0
	MaxPriority = 100
)

// liveChannels are the channels whose contact is a live call: it cannot
// survive an ivrd restart.
var liveChannels = map[string]bool{ChannelVoice: true, ChannelWebRTC: true}

// ValidChannel reports whether ch is a known channel.
func ValidChannel(ch string) bool {
	switch ch {
	case ChannelVoice, ChannelWebRTC, ChannelChat, ChannelEmail, ChannelCallback:
		return true
	}
	return false
}

// ValidName reports whether s can name a queue: 1 to MaxNameLen characters
// among letters, digits, '.', '_' and '-', so it is safe in a URL path.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// Validate checks a contact before it enters a queue.
func Validate(c *ivr.Contact) error {
	if err := validate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidContact, err)
	}
	return nil
}

func validate(c *ivr.Contact) error {
	switch {
	case c.Queue == "":
		return fmt.Errorf("missing queue")
	case !ValidName(c.Queue):
		return fmt.Errorf("queue %q: want 1 to %d letters, digits, '.', '_' or '-'", c.Queue, MaxNameLen)
	case !ValidChannel(c.Channel):
		return fmt.Errorf("channel %q: want voice, webrtc, chat, email or callback", c.Channel)
	case c.Priority < MinPriority || c.Priority > MaxPriority:
		return fmt.Errorf("priority %d: want %d to %d", c.Priority, MinPriority, MaxPriority)
	case len(c.Skills) > MaxSkills:
		return fmt.Errorf("%d skills: at most %d", len(c.Skills), MaxSkills)
	case len(c.Vars) > MaxVars:
		return fmt.Errorf("%d vars: at most %d", len(c.Vars), MaxVars)
	}
	for name, v := range map[string]string{
		"id": c.ID, "call_id": c.CallID, "caller": c.Caller, "dialled": c.Dialled,
		"language": c.Language, "intent": c.Intent, "flow": c.Flow, "flow_version": c.FlowVersion,
	} {
		if len(v) > MaxFieldLen {
			return fmt.Errorf("%s: longer than %d bytes", name, MaxFieldLen)
		}
	}
	for _, s := range c.Skills {
		if s == "" || len(s) > MaxNameLen {
			return fmt.Errorf("skill %q: want 1 to %d bytes", s, MaxNameLen)
		}
		if _, err := parseSkill(s); err != nil {
			return err
		}
	}
	if len(c.Path) > MaxPath {
		return fmt.Errorf("%d path steps: at most %d", len(c.Path), MaxPath)
	}
	for _, p := range c.Path {
		if len(p) > MaxFieldLen {
			return fmt.Errorf("path step: longer than %d bytes", MaxFieldLen)
		}
	}
	for k, v := range c.Vars {
		if k == "" || len(k) > MaxNameLen {
			return fmt.Errorf("var %q: name wants 1 to %d bytes", k, MaxNameLen)
		}
		if len(v) > MaxFieldLen {
			return fmt.Errorf("var %q: value longer than %d bytes", k, MaxFieldLen)
		}
	}
	return nil
}

// waitingContact is c as the API lists it, with its wait at now.
func waitingContact(c *ivr.Contact, now time.Time) WaitingContact {
	w := WaitingContact{
		ID: c.ID, Channel: c.Channel, Queue: c.Queue, CallID: c.CallID, Caller: c.Caller,
		Dialled: c.Dialled, Language: c.Language, Intent: c.Intent, Priority: c.Priority,
		Skills: slices.Clone(c.Skills), Vars: maps.Clone(c.Vars), Flow: c.Flow, FlowVersion: c.FlowVersion,
		EnqueuedAt: c.EnqueuedAt,
	}
	if w.Skills == nil {
		w.Skills = []string{}
	}
	w.Wait = max(now.Sub(c.EnqueuedAt), 0)
	w.WaitSeconds = seconds(w.Wait)
	return w
}

// newID returns a random version 4 UUID.
func newID() string { return uuid.NewString() }

// WaitingContact is a contact in a queue, with everything the flow learned.
type WaitingContact struct {
	ID          string            `json:"id"`
	Channel     string            `json:"channel"`
	Queue       string            `json:"queue"`
	CallID      string            `json:"call_id,omitempty"`
	Caller      string            `json:"caller"`
	Dialled     string            `json:"dialled,omitempty"`
	Language    string            `json:"language,omitempty"`
	Intent      string            `json:"intent,omitempty"`
	Priority    int               `json:"priority"`
	Skills      []string          `json:"skills"`
	Vars        map[string]string `json:"vars,omitempty"`
	Flow        string            `json:"flow,omitempty"`
	FlowVersion string            `json:"flow_version,omitempty"`
	EnqueuedAt  time.Time         `json:"enqueued_at"`
	// Callback is set for a callback request: the number to call and how
	// its attempts go.
	Callback *CallbackInfo `json:"callback,omitempty"`
	// Wait is how long the contact has been waiting; WaitSeconds is the
	// same, for JSON.
	Wait        time.Duration `json:"-"`
	WaitSeconds float64       `json:"wait_seconds"`
}

// QueueSummary is the state of one queue: who waits now, and how waits
// ended over the last Window.
type QueueSummary struct {
	Name              string         `json:"name"`
	Waiting           int            `json:"waiting"`
	Channels          map[string]int `json:"channels"` // waiting contacts per channel
	OldestWait        time.Duration  `json:"-"`
	OldestWaitSeconds float64        `json:"oldest_wait_seconds"`

	// Contacts that left the queue during the last Window.
	Window         string  `json:"window"`
	Connected      int     `json:"connected"`
	Abandoned      int     `json:"abandoned"`
	TimedOut       int     `json:"timed_out"`
	Closed         int     `json:"closed"`
	Transferred    int     `json:"transferred"`
	AvgWaitSeconds float64 `json:"avg_wait_seconds"` // of connected contacts
}

func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}

package ivr

import (
	"regexp"
	"time"
)

// Flow is one validated, ready-to-run flow. A Flow is immutable once loaded:
// calls in progress keep the *Flow they started with while a reload swaps in
// new ones.
type Flow struct {
	Name     string // the `flow:` key
	File     string // file it was loaded from
	Version  string // content hash of the file (first 12 hex digits of sha256)
	Language string // "fr", "en", ...
	Entry    string // first node
	Operator Operator
	Nodes    map[string]*Node
	// Calendars visible to branch conditions (shared ones from
	// entrypoints.yaml plus the flow's own).
	Calendars map[string]*Calendar
	// Vocabulary holds the pre-rendered words used by say-digits and
	// say-number prompts, by word ("0".."9", "20", "hundred", "et", ...).
	Vocabulary map[string]Audio
}

// Operator is the flow-wide key that reaches an advisor from any menu or
// collect (seed: always give a way to a live operator).
type Operator struct {
	Key  rune   // default '0'; 0 disables
	Goto string // node to go to, usually a queue node
}

// NodeKind names what a node does.
type NodeKind string

// The node kinds.
const (
	KindPlay     NodeKind = "play"
	KindMenu     NodeKind = "menu"
	KindCollect  NodeKind = "collect"
	KindSet      NodeKind = "set"
	KindBranch   NodeKind = "branch"
	KindGoto     NodeKind = "goto"
	KindQueue    NodeKind = "queue"
	KindHangup   NodeKind = "hangup"
	KindConsent  NodeKind = "consent"
	KindRecord   NodeKind = "record"
	KindCallback NodeKind = "callback"
)

// Position is where something was written, for error messages.
type Position struct {
	File string
	Line int
	Col  int
}

// Node is one step of a flow. Exactly one of the kind-specific fields is set.
type Node struct {
	Name string
	Kind NodeKind
	Pos  Position
	Next string // following node for play, set, collect, consent, record; "" ends the call

	Play     *PlayNode
	Menu     *MenuNode
	Collect  *CollectNode
	Set      map[string]string // variable -> template ("${caller}")
	Branch   []BranchRule
	Goto     string
	Queue    *QueueNode
	Hangup   *HangupNode
	Consent  *ConsentNode
	Record   *RecordNode
	Callback *CallbackNode
}

// Prompts returns every prompt of the node, whatever its kind, so that a
// driver can index the audio it may be asked to play.
func (n *Node) Prompts() []Prompt {
	input := func(in *Input) []Prompt {
		return []Prompt{in.Prompt, in.RetryPrompt, in.InvalidPrompt, in.NoInputPrompt}
	}
	switch {
	case n.Play != nil:
		return []Prompt{n.Play.Prompt}
	case n.Menu != nil:
		return input(&n.Menu.Input)
	case n.Collect != nil:
		return input(&n.Collect.Input)
	case n.Queue != nil:
		return []Prompt{n.Queue.Hold, n.Queue.CallbackOffer}
	case n.Callback != nil:
		return n.Callback.prompts()
	case n.Hangup != nil:
		return []Prompt{n.Hangup.Prompt}
	case n.Consent != nil:
		return []Prompt{n.Consent.Prompt, n.Consent.RefusedPrompt}
	}
	return nil
}

// Prompt is a prompt as written, before variables are expanded: a sequence of
// parts. Static parts are resolved to Audio at load time; say-digits and
// say-number parts are expanded at run time from the flow's Vocabulary.
type Prompt []PromptPart

// PromptPart is one element of a prompt.
type PromptPart struct {
	Audio  *Audio // a file, a rendered `say:`, a sound or a silence
	Digits string // template read back digit by digit ("${account}")
	Number string // template read back as a number ("${wait_minutes}")
}

// TypeAhead says what a menu or collect does with keys pressed before it
// started (type-ahead buffer).
type TypeAhead string

// Type-ahead policies.
const (
	TypeAheadKeep  TypeAhead = "keep"  // consume buffered keys (default)
	TypeAheadFlush TypeAhead = "flush" // discard them when the node starts
)

// PlayNode plays a prompt.
type PlayNode struct {
	Prompt Prompt
	// Interruptible: a key stops the prompt at once; the key stays in the
	// type-ahead buffer for the next menu or collect. When false, keys are
	// buffered and the prompt plays to its end.
	Interruptible bool
}

// Input holds the settings shared by menu and collect.
type Input struct {
	Prompt        Prompt
	RetryPrompt   Prompt // played instead of Prompt on the 2nd and later tries (shorter)
	InvalidPrompt Prompt // after a wrong entry
	NoInputPrompt Prompt // after a timeout with no key
	// Timeout is the no-input (first digit) timeout, started when the prompt
	// ends or the first key arrives. Default 5 s.
	Timeout time.Duration
	// InterDigitTimeout restarts on each key. Default 3 s.
	InterDigitTimeout time.Duration
	Tries             int // default 3
	OnFailure         string
	TypeAhead         TypeAhead
	Interruptible     bool // default true
}

// MenuNode offers choices, one key each.
type MenuNode struct {
	Input
	Options map[rune]MenuOption
}

// MenuOption is what one key of a menu does.
type MenuOption struct {
	Goto string
	Set  map[string]string
}

// CollectNode reads a number of digits into a variable.
type CollectNode struct {
	Input
	Var        string
	MinDigits  int // default 1
	MaxDigits  int // default 20
	Terminator rune
	Pattern    *regexp.Regexp // nil: any digits
	// Sensitive digits are masked in logs and call records, and a
	// recording in progress is paused while the collect runs.
	Sensitive bool
}

// BranchRule is one rule of a branch; the first whose condition holds wins.
// A rule with a nil If always holds (else).
type BranchRule struct {
	If   *Condition
	Goto string
	Pos  Position
}

// Condition is a test on variables, the caller number or business hours.
// Exactly one of its groups is set.
type Condition struct {
	// Var tests a variable (caller, dialled, call_id, language and any
	// variable set by the flow).
	Var    string
	Equals *string
	In     []string
	Prefix string
	Match  *regexp.Regexp
	Empty  *bool

	Open   string // calendar name: true within its opening hours
	Closed string // calendar name: true outside them or on a holiday

	// CallbackPending is a queue name, or "any": true when the caller's
	// number has a callback request pending there (rule 22).
	CallbackPending string

	All []Condition
	Any []Condition
	Not *Condition
}

// QueueNode hands the call to the shared routing queue.
type QueueNode struct {
	Queue    string
	Intent   string // template
	Priority int
	Skills   []string
	Hold     Prompt // played in a loop while the caller waits
	// MaxWait, when set, leaves the queue after this wait and goes to
	// OnTimeout (e.g. a callback offer); 0 waits until an agent or hang-up.
	MaxWait   time.Duration
	OnTimeout string
	// Record records the conversation with the agent, from the moment an
	// agent takes the call until the call ends, when the caller accepted
	// the recording.
	Record bool
	// Callback is the callback node the caller goes to by pressing
	// CallbackKey on hold, keeping the place; "" when the queue offers
	// none.
	Callback    string
	CallbackKey rune
	// OfferCallbackAfter, when set, plays CallbackOffer (which names the
	// key) once, between two hold prompts, when the estimated wait exceeds
	// it.
	OfferCallbackAfter time.Duration
	CallbackOffer      Prompt
}

// ConsentNode tells the caller the call may be recorded and takes the
// answer: the refuse key refuses, staying on the line accepts.
type ConsentNode struct {
	Prompt        Prompt        // the notice; the loader sets a default naming RefuseKey
	RefuseKey     rune          // default '9'
	Window        time.Duration // time to refuse after the notice; default 3 s
	RefusedPrompt Prompt        // confirms a refusal; the loader sets a default
	OnRefuse      string        // node after a refusal; "" means Next
}

// RecordAction is what a record node does to the call's recording.
type RecordAction string

// Record actions.
const (
	RecordStart  RecordAction = "start"
	RecordStop   RecordAction = "stop"
	RecordPause  RecordAction = "pause"
	RecordResume RecordAction = "resume"
)

// RecordNode starts, stops, pauses or resumes the call's recording.
type RecordNode struct {
	Action RecordAction // default start
}

// HangupNode ends the call, optionally after a prompt.
type HangupNode struct {
	Prompt Prompt
	Reason string
}

// Calendar is a set of weekly opening hours in a time zone, with holidays.
type Calendar struct {
	Name     string
	Location *time.Location
	// Weekly[time.Weekday] lists the open intervals of that day.
	Weekly   [7][]TimeRange
	Holidays map[string]bool // "2026-12-25" in the calendar's zone
}

// TimeRange is an interval within a day, in minutes from midnight [From, To).
type TimeRange struct{ From, To int }

// IsOpen reports whether t falls within opening hours.
func (c *Calendar) IsOpen(t time.Time) bool {
	lt := t.In(c.Location)
	if c.Holidays[lt.Format("2006-01-02")] {
		return false
	}
	m := lt.Hour()*60 + lt.Minute()
	for _, r := range c.Weekly[lt.Weekday()] {
		if m >= r.From && m < r.To {
			return true
		}
	}
	return false
}

// nextOpenHorizon bounds the search for the next opening: a calendar
// closed for longer is closed.
const nextOpenHorizon = 370 * 24 * time.Hour

// NextOpen returns the first time at or after t when the calendar is open,
// to the minute; false when it does not open within a year.
func (c *Calendar) NextOpen(t time.Time) (time.Time, bool) {
	if c.IsOpen(t) {
		return t, true
	}
	lt := t.In(c.Location)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, c.Location)
	for d := 0; d*24 < int(nextOpenHorizon/time.Hour); d++ {
		date := day.AddDate(0, 0, d)
		if c.Holidays[date.Format("2006-01-02")] {
			continue
		}
		for _, r := range c.Weekly[date.Weekday()] {
			// Wall-clock minutes, so that a day with a DST change still
			// opens at the hour written.
			at := time.Date(date.Year(), date.Month(), date.Day(), r.From/60, r.From%60, 0, 0, c.Location)
			end := time.Date(date.Year(), date.Month(), date.Day(), r.To/60, r.To%60, 0, 0, c.Location)
			if !end.After(t) {
				continue
			}
			if at.Before(t) {
				at = t
			}
			return at, true
		}
	}
	return time.Time{}, false
}

// Routes maps dialled numbers to flows.
type Routes struct {
	ByNumber map[string]string // dialled number -> flow name
	Default  string
}

// FlowSet is one consistent snapshot of all flows and routes. A reload builds
// a new FlowSet and swaps it in atomically; a failed reload keeps the old one.
type FlowSet struct {
	Flows    map[string]*Flow
	Routes   Routes
	LoadedAt time.Time
	Warnings []Diagnostic
}

// Lookup returns the flow for a dialled number, or the default flow.
func (s *FlowSet) Lookup(dialled string) (*Flow, bool) {
	name, ok := s.Routes.ByNumber[dialled]
	if !ok {
		name = s.Routes.Default
	}
	f, ok := s.Flows[name]
	return f, ok
}

// Severity of a diagnostic.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is a loader error or lint warning, with where it was written.
type Diagnostic struct {
	Pos      Position
	Severity Severity
	Message  string
}

// String formats the diagnostic as file:line:col: severity: message.
func (d Diagnostic) String() string {
	return d.Pos.String() + ": " + string(d.Severity) + ": " + d.Message
}

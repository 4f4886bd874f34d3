package ivr

import (
	"context"
	"time"
)

// The law ivrd follows for recordings (see recordings/README.md): the caller
// is told the call may be recorded and may refuse; a refusal is absolute
// (nothing of the call is recorded, on any leg, by any driver); recordings
// are kept at most six months and reached by authorised people only.
//
// The engine asks at a consent node, stores the answer durably through
// Recordings before anything is recorded, and starts recordings only with
// an accepted consent. A driver records through the optional Recordable
// interface; the audio goes to a RecordingFile that Recordings created.

// ConsentChoice is the caller's answer to the recording notice.
type ConsentChoice string

// Consent choices.
const (
	ConsentAccepted ConsentChoice = "accepted" // the caller stayed on the line
	ConsentRefused  ConsentChoice = "refused"  // the caller pressed the refuse key
)

// VarConsent is the call variable that holds the consent choice
// ("accepted", "refused"; unset before the consent node). It travels with
// the call's variables into the queue contact, so the agent sees it, and
// into the call record; flows may branch on it.
const VarConsent = "recording_consent"

// Consent is one audited answer to the recording notice.
type Consent struct {
	ID          string // set by Recordings.SaveConsent
	CallID      string
	Caller      string
	Driver      string
	At          time.Time // when the choice was made
	Language    string
	Flow        string
	FlowVersion string
	Node        string
	Prompt      string // the notice's text, as played
	Choice      ConsentChoice
	Key         string // the key that refused; "" when accepted
}

// Recordings is where the engine keeps consents and recordings
// (recordings.Service implements it).
type Recordings interface {
	// SaveConsent stores c and sets c.ID. It returns only once the row is
	// durably committed (fsync'd), so that no recorded byte can exist
	// without it.
	SaveConsent(ctx context.Context, c *Consent) error
	// FindConsent returns the consent already given for a call (the consent
	// is asked once per call, even across transfers), or nil, nil.
	FindConsent(ctx context.Context, callID string) (*Consent, error)
	// Create opens a new recording. It fails when meta.ConsentID does not
	// name an accepted consent of meta.CallID.
	Create(ctx context.Context, meta RecordingMeta) (RecordingFile, error)
}

// RecordingMeta describes a recording when it starts.
type RecordingMeta struct {
	CallID      string
	Caller      string
	Dialled     string
	Driver      string
	Flow        string
	FlowVersion string
	Node        string // the record or queue node that started it
	Queue       string // set for the recording of an agent conversation
	ConsentID   string
	StartedAt   time.Time
}

// RecordSink receives a recording's audio: 8 kHz signed 16-bit PCM, the
// caller on the left channel, ivrd or the agent on the right. Both slices
// of one call have the same length. The sink does not keep them.
type RecordSink interface {
	WriteFrames(caller, other []int16) error
}

// RecordingFile is a recording being written.
type RecordingFile interface {
	RecordSink
	// ID is the recording's id (used in URLs, never a path).
	ID() string
	// Pause and Resume note a pause of the recording (sensitive input) at
	// the given time; the notes are stored with the recording. The audio of
	// a pause is silence written by the driver, so the file keeps time.
	Pause(at time.Time, reason string)
	Resume(at time.Time)
	// Close completes the recording: the file gets its final name, and its
	// size, duration and sha256 are stored with its metadata.
	Close(ctx context.Context) error
	// Abort deletes what was written and leaves no row.
	Abort(ctx context.Context) error
}

// Recordable is an optional interface of a Call whose driver can record
// it. Calls that do not implement it are never recorded.
type Recordable interface {
	// Record sends the call's audio, both directions, to sink from now on,
	// until the returned Recorder is stopped or the call ends.
	Record(ctx context.Context, sink RecordSink) (Recorder, error)
}

// Recorder controls a recording in progress on a call.
type Recorder interface {
	// Pause writes silence on both channels instead of the audio, until
	// Resume. It takes effect within one frame (20 ms).
	Pause()
	Resume()
	// Stop ends the recording and returns once sink has received its last
	// frame. It must work after the call's context is done (the call hung
	// up) and is idempotent.
	Stop(ctx context.Context) error
}

// Lingerer is an optional interface of a Call that stays up after it left
// ivrd's hands, such as a call an Asterisk driver continued in the
// dialplan to a queue there. The call's context ends when it leaves ivrd;
// Gone is closed only when the call is really over (its channel hung up)
// or the driver stops.
//
// When such a call leaves for a queue with record: true and the caller
// accepted, the engine records the conversation with the agent there and
// closes the recording once Gone is closed. Calls that do not implement
// it stop being recorded when they leave ivrd.
type Lingerer interface {
	Gone() <-chan struct{}
}

package ivrtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// Errors of MemRecordings.
var (
	// ErrNoConsent: Create was asked for a recording without an accepted
	// consent of the call, which the law forbids.
	ErrNoConsent = errors.New("no accepted consent for the recording")
	// ErrFileEnded: a frame was written, or the file closed, after Close
	// or Abort.
	ErrFileEnded = errors.New("recording already ended")
)

// MemRecordings is an ivr.Recordings in memory. It keeps every consent and
// every recording with what was written to it, and enforces the contract:
// Create fails without an accepted consent of the call.
//
// Set the error fields before calls are served.
type MemRecordings struct {
	// SaveErr, FindErr and CreateErr, when set, are returned by
	// SaveConsent, FindConsent and Create.
	SaveErr, FindErr, CreateErr error

	mu       sync.Mutex
	consents []ivr.Consent
	files    []*memFile
	saves    int
}

var _ ivr.Recordings = (*MemRecordings)(nil)

// Recording is what a recording of MemRecordings holds.
type Recording struct {
	ID   string
	Meta ivr.RecordingMeta
	// Frames counts WriteFrames calls, Samples the samples per channel,
	// SilentFrames the frames that were silence on both channels (a
	// paused recording).
	Frames, Samples, SilentFrames int
	Pauses                        []Pause
	Closed, Aborted               bool
	// LateWrites counts frames written after Close or Abort.
	LateWrites int
}

// Pause is a pause noted in a recording; Resumed is zero while it lasts.
type Pause struct {
	At      time.Time
	Reason  string
	Resumed time.Time
}

// SaveConsent implements ivr.Recordings.
func (r *MemRecordings) SaveConsent(_ context.Context, c *ivr.Consent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saves++
	if r.SaveErr != nil {
		return r.SaveErr
	}
	r.add(c)
	return nil
}

// AddConsent stores c as given earlier in the call (a call back from a
// transfer) and returns its id.
func (r *MemRecordings) AddConsent(c ivr.Consent) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(&c)
	return c.ID
}

func (r *MemRecordings) add(c *ivr.Consent) {
	if c.ID == "" {
		c.ID = fmt.Sprintf("consent-%d", len(r.consents)+1)
	}
	r.consents = append(r.consents, *c)
}

// FindConsent implements ivr.Recordings: the last consent of the call.
func (r *MemRecordings) FindConsent(_ context.Context, callID string) (*ivr.Consent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.FindErr != nil {
		return nil, r.FindErr
	}
	for i := len(r.consents) - 1; i >= 0; i-- {
		if r.consents[i].CallID == callID {
			c := r.consents[i]
			return &c, nil
		}
	}
	return nil, nil
}

// Create implements ivr.Recordings.
func (r *MemRecordings) Create(_ context.Context, meta ivr.RecordingMeta) (ivr.RecordingFile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.CreateErr != nil {
		return nil, r.CreateErr
	}
	ok := slices.ContainsFunc(r.consents, func(c ivr.Consent) bool {
		return c.ID == meta.ConsentID && c.CallID == meta.CallID && c.Choice == ivr.ConsentAccepted
	})
	if !ok {
		return nil, fmt.Errorf("create recording of call %q with consent %q: %w", meta.CallID, meta.ConsentID, ErrNoConsent)
	}
	f := &memFile{r: r, ended: make(chan struct{})}
	f.rec = Recording{ID: fmt.Sprintf("rec-%d", len(r.files)+1), Meta: meta}
	r.files = append(r.files, f)
	return f, nil
}

// Consents returns the consents stored, in order.
func (r *MemRecordings) Consents() []ivr.Consent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.consents)
}

// SaveCalls returns how many times SaveConsent was called, failed or not.
func (r *MemRecordings) SaveCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.saves
}

// Recordings returns a copy of every recording created, in order.
func (r *MemRecordings) Recordings() []Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Recording, len(r.files))
	for i, f := range r.files {
		out[i] = f.rec
		out[i].Pauses = slices.Clone(f.rec.Pauses)
	}
	return out
}

// Ended returns a channel closed once recording id is closed or aborted;
// nil for an unknown id.
func (r *MemRecordings) Ended(id string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.files {
		if f.rec.ID == id {
			return f.ended
		}
	}
	return nil
}

// memFile is an ivr.RecordingFile of MemRecordings; its state is guarded
// by the store's mutex.
type memFile struct {
	r     *MemRecordings
	rec   Recording
	ended chan struct{}
}

func (f *memFile) ID() string { return f.rec.ID }

func (f *memFile) WriteFrames(caller, other []int16) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if f.rec.Closed || f.rec.Aborted {
		f.rec.LateWrites++
		return ErrFileEnded
	}
	if len(caller) != len(other) {
		return fmt.Errorf("write frames: caller has %d samples, other %d", len(caller), len(other))
	}
	f.rec.Frames++
	f.rec.Samples += len(caller)
	if silent(caller) && silent(other) {
		f.rec.SilentFrames++
	}
	return nil
}

func silent(pcm []int16) bool {
	for _, v := range pcm {
		if v != 0 {
			return false
		}
	}
	return true
}

func (f *memFile) Pause(at time.Time, reason string) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.rec.Pauses = append(f.rec.Pauses, Pause{At: at, Reason: reason})
}

func (f *memFile) Resume(at time.Time) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if n := len(f.rec.Pauses); n > 0 && f.rec.Pauses[n-1].Resumed.IsZero() {
		f.rec.Pauses[n-1].Resumed = at
	}
}

func (f *memFile) Close(context.Context) error { return f.end(func() { f.rec.Closed = true }) }

func (f *memFile) Abort(context.Context) error { return f.end(func() { f.rec.Aborted = true }) }

func (f *memFile) end(mark func()) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if f.rec.Closed || f.rec.Aborted {
		return ErrFileEnded
	}
	mark()
	close(f.ended)
	return nil
}

package ivr

import (
	"context"
	"log/slog"
	"testing"
)

// refusedStore knows a refusal for every call.
type refusedStore struct{ Recordings }

func (refusedStore) FindConsent(_ context.Context, callID string) (*Consent, error) {
	return &Consent{ID: "c1", CallID: callID, Choice: ConsentRefused, Key: "9"}, nil
}

type fakeFile struct {
	RecordingFile
	closed, aborted bool
}

func (f *fakeFile) ID() string                  { return "rec-1" }
func (f *fakeFile) Close(context.Context) error { f.closed = true; return nil }
func (f *fakeFile) Abort(context.Context) error { f.aborted = true; return nil }

type fakeRecorder struct {
	Recorder
	stopped bool
}

func (r *fakeRecorder) Stop(ctx context.Context) error {
	if ctx.Err() != nil {
		panic("stop with a done context")
	}
	r.stopped = true
	return nil
}

// Validation keeps recordings after consent nodes, but should a recording
// run when a consent node learns of a refusal (one given on another leg of
// the call), it is stopped and deleted, not kept: rule 14.
func TestRefusalDiscardsRecording(t *testing.T) {
	e := NewEngine(nil, WithLogger(slog.New(slog.DiscardHandler)), WithRecordings(refusedStore{}))
	n := &Node{Name: "consent", Kind: KindConsent, Next: "menu", Consent: &ConsentNode{OnRefuse: "alt"}}
	s := newSession(e, nil, &Flow{Name: "f", Language: "en"}, &CallRecord{ID: "c"}, e.logger)
	file, rec := &fakeFile{}, &fakeRecorder{}
	s.recording = &recording{file: file, rec: rec}
	s.enter(n)

	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the caller already hung up: the deletion must still happen
	next, err := s.consentNode(ctx, n)
	if err != nil || next != "alt" {
		t.Fatalf("consent = %q, %v; want alt", next, err)
	}
	if !rec.stopped || !file.aborted || file.closed || s.recording != nil {
		t.Errorf("recorder stopped %v, file aborted %v closed %v, still running %v; want stopped and aborted",
			rec.stopped, file.aborted, file.closed, s.recording != nil)
	}
	if got := s.rec.Visits[0].Result; got != "already refused; recording discarded" {
		t.Errorf("result = %q", got)
	}
	if s.vars[VarConsent] != "refused" {
		t.Errorf("vars = %v", s.vars)
	}
}

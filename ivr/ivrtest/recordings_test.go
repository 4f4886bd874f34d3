package ivrtest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// The fake store holds the engine to the contract: no recording without an
// accepted consent of the same call, nothing written after the end.
func TestMemRecordingsContract(t *testing.T) {
	mem := &ivrtest.MemRecordings{}
	accepted := mem.AddConsent(ivr.Consent{CallID: "a", Choice: ivr.ConsentAccepted})
	refused := mem.AddConsent(ivr.Consent{CallID: "b", Choice: ivr.ConsentRefused, Key: "9"})
	tests := []struct {
		name      string
		call, id  string
		wantError bool
	}{
		{"accepted", "a", accepted, false},
		{"no consent id", "a", "", true},
		{"refused", "b", refused, true},
		{"consent of another call", "b", accepted, true},
	}
	for _, tt := range tests {
		_, err := mem.Create(t.Context(), ivr.RecordingMeta{CallID: tt.call, ConsentID: tt.id})
		if (err != nil) != tt.wantError || (err != nil && !errors.Is(err, ivrtest.ErrNoConsent)) {
			t.Errorf("%s: Create err = %v, want error %v", tt.name, err, tt.wantError)
		}
	}

	f, err := mem.Create(t.Context(), ivr.RecordingMeta{CallID: "a", ConsentID: accepted})
	if err != nil {
		t.Fatal(err)
	}
	speech, quiet := make([]int16, 160), make([]int16, 160)
	speech[3] = 100
	for _, frame := range [][]int16{speech, quiet, quiet} {
		if err := f.WriteFrames(frame, quiet); err != nil {
			t.Fatal(err)
		}
	}
	at := ivrtest.Epoch
	f.Pause(at, "sensitive input pin")
	f.Resume(at.Add(time.Second))
	if err := f.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFrames(quiet, quiet); !errors.Is(err, ivrtest.ErrFileEnded) {
		t.Errorf("write after close: %v", err)
	}
	if err := f.Abort(t.Context()); !errors.Is(err, ivrtest.ErrFileEnded) {
		t.Errorf("abort after close: %v", err)
	}
	select {
	case <-mem.Ended(f.ID()):
	default:
		t.Error("Ended not closed")
	}
	r := mem.Recordings()[1]
	if r.Frames != 3 || r.SilentFrames != 2 || r.Samples != 480 || r.LateWrites != 1 || !r.Closed || r.Aborted {
		t.Errorf("recording = %+v", r)
	}
	if len(r.Pauses) != 1 || r.Pauses[0] != (ivrtest.Pause{At: at, Reason: "sensitive input pin", Resumed: at.Add(time.Second)}) {
		t.Errorf("pauses = %+v", r.Pauses)
	}
}

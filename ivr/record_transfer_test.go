package ivr_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// notLingering is a call the driver transfers but cannot follow once it
// left: a Transferer and Recordable, not a Lingerer.
type notLingering struct {
	*ivrtest.RecordableCall
	t *ivrtest.TransferCall
}

func (c notLingering) TransferToQueue(ctx context.Context, ct ivr.Contact) (bool, error) {
	return c.t.TransferToQueue(ctx, ct)
}

// A call handed to a queue outside ivrd (Asterisk's dialplan) with
// record: true is recorded there, with the caller's consent, until the
// call is gone, long after Serve returned; Engine.Wait waits for it. Any
// other case stops the recording as the call leaves.
func TestTransferRecord(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tests := []struct {
		name      string
		before    []*ivr.Node
		record    bool
		refuse    bool
		lingering bool
		result    string
		// want: the recordings, each with its node, queue, start (since
		// the epoch) and frames once closed.
		want []wantRec
		// lingers: the recording is still open when Serve returned.
		lingers bool
	}{{
		name:   "started when the call leaves",
		record: true, lingering: true, lingers: true,
		result: "transferred; recording started",
		want:   []wantRec{{node: "queue", queue: "billing", start: 8 * s, frames: frames(60 * s)}},
	}, {
		name:   "already running: goes on in the external queue",
		before: []*ivr.Node{recordNode("rec", "queue", ivr.RecordStart)},
		record: true, lingering: true, lingers: true,
		result: "transferred; recording continues",
		want:   []wantRec{{node: "rec", start: 8 * s, frames: frames(60 * s)}},
	}, {
		name:   "refused: nothing recorded",
		before: []*ivr.Node{recordNode("rec", "queue", ivr.RecordStart)},
		record: true, refuse: true, lingering: true,
		result: "transferred; not recorded: consent refused",
	}, {
		name:      "queue does not record: the recording stops",
		before:    []*ivr.Node{recordNode("rec", "queue", ivr.RecordStart)},
		lingering: true,
		result:    "transferred",
		want:      []wantRec{{node: "rec", start: 8 * s, frames: 0}},
	}, {
		name:   "driver cannot follow the call: the recording stops",
		before: []*ivr.Node{recordNode("rec", "queue", ivr.RecordStart)},
		record: true,
		result: "transferred; recording stopped: driver cannot follow the call",
		want:   []wantRec{{node: "rec", start: 8 * s, frames: 0}},
	}, {
		name:   "driver cannot follow the call: nothing started",
		record: true,
		result: "transferred; not recorded: driver cannot follow the call",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := queueRecordFlow(tt.record, tt.before...)
			clock := ivrtest.NewClock(ivrtest.Epoch)
			tc := ivrtest.NewTransferCall(clock, "call-1", "+33612345678", "3000", "billing")
			maps.Copy(tc.Durations, sc.durations)
			if tt.refuse {
				tc.PressAt(2*s, "9")
			}
			var target ivr.Call = tc
			if !tt.lingering {
				target = notLingering{RecordableCall: tc.RecordableCall, t: tc}
			}
			mem := sc.recordings
			calls := &ivrtest.MemCallLog{}
			set := &ivr.FlowSet{Flows: map[string]*ivr.Flow{"main": sc.flow}, Routes: ivr.Routes{Default: "main"}}
			eng := ivr.NewEngine(ivr.FlowsFunc(func() *ivr.FlowSet { return set }),
				ivr.WithClock(clock), ivr.WithQueue(ivrtest.NewQueue(clock)), ivr.WithCallLog(calls),
				ivr.WithRecordings(mem), ivr.WithLogger(slog.New(slog.DiscardHandler)))

			// The call's context ends as the call leaves ivrd, as under
			// Asterisk (StasisEnd after the continue).
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			err := clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, target, "test") }, nil)
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
			cancel(errors.New("call continued elsewhere"))

			rec, _ := calls.Last("call-1")
			if rec.Outcome != ivr.OutcomeQueued {
				t.Errorf("outcome = %q, want queued", rec.Outcome)
			}
			if got := results(rec)["queue"]; got != tt.result {
				t.Errorf("queue result = %q, want %q", got, tt.result)
			}
			if c := tc.Transfers(); len(c) != 1 || c[0].Record != tt.record {
				t.Fatalf("transfers = %+v, want one with record %v", c, tt.record)
			}

			recs := mem.Recordings()
			if open := len(recs) == 1 && !recs[0].Closed && !recs[0].Aborted; open != tt.lingers {
				t.Fatalf("recordings when Serve returned = %+v, want open %v", recs, tt.lingers)
			}
			if tt.lingers {
				// Wait waits for the call to be gone.
				short, cancelShort := context.WithTimeout(t.Context(), 50*time.Millisecond)
				if err := eng.Wait(short); err == nil {
					t.Error("Wait returned while the call was still up")
				}
				cancelShort()
				clock.Advance(60 * s) // the caller talks with the agent
			}
			tc.End()
			wctx, cancelWait := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancelWait()
			if err := eng.Wait(wctx); err != nil {
				t.Fatalf("Wait: %v", err)
			}

			recs = mem.Recordings()
			if len(recs) != len(tt.want) {
				t.Fatalf("recordings = %+v, want %d", recs, len(tt.want))
			}
			for i, w := range tt.want {
				r := recs[i]
				if r.Meta.Node != w.node || r.Meta.Queue != w.queue || !r.Meta.StartedAt.Equal(ivrtest.Epoch.Add(w.start)) {
					t.Errorf("meta = %+v, want node %q queue %q started at %v", r.Meta, w.node, w.queue, w.start)
				}
				if !r.Closed || r.Frames != w.frames {
					t.Errorf("recording closed %v with %d frames, want closed with %d", r.Closed, r.Frames, w.frames)
				}
			}
			rs := tc.Recorders()
			if tt.refuse && len(rs) != 0 {
				t.Errorf("driver recorded %d times after a refusal, want never", len(rs))
			}
			for _, r := range rs {
				if r.Stops != 1 {
					t.Errorf("recorder = %+v, want stopped once", r)
				}
			}
		})
	}
}

type wantRec struct {
	node, queue string
	start       time.Duration
	frames      int
}

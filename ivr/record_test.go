package ivr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// frames is the number of 20 ms frames in d.
func frames(d time.Duration) int { return int(d / ivrtest.FrameDuration) }

// accept is a consent node the caller accepts by staying on the line: the
// notice lasts 5 s (consentDurations), the window ends at 8 s.
func accept(next string) *ivr.Node { return consentNode("consent", next, ivr.ConsentNode{}) }

func TestRecordNode(t *testing.T) {
	mem := &ivrtest.MemRecordings{}
	sv := serve(t, scenario{
		flow: newFlow(
			accept("rec"),
			recordNode("rec", "a", ivr.RecordStart),
			playNode("a", "pause", false),
			recordNode("pause", "b", ivr.RecordPause),
			playNode("b", "pause-again", false),
			recordNode("pause-again", "resume", ivr.RecordPause),
			recordNode("resume", "c", ivr.RecordResume),
			playNode("c", "resume-again", false),
			recordNode("resume-again", "rec-again", ivr.RecordResume),
			recordNode("rec-again", "stop", ivr.RecordStart),
			recordNode("stop", "d", ivr.RecordStop),
			playNode("d", "stop-again", false),
			recordNode("stop-again", "", ivr.RecordStop),
		),
		durations:  consentDurations,
		recordings: mem,
		recordable: true,
	})
	sv.check(t, nil, map[string]string{
		"consent":      "accepted",
		"rec":          "recording started",
		"pause":        "paused",
		"pause-again":  "already paused",
		"resume":       "resumed",
		"resume-again": "not paused",
		"rec-again":    "already recording",
		"stop":         "stopped",
		"stop-again":   "not recording",
	}, ivr.OutcomeHangup)

	// Recording from 8 s (end of the window) to 11 s, paused from 9 s to 10 s.
	recs := mem.Recordings()
	if len(recs) != 1 {
		t.Fatalf("%d recordings, want 1", len(recs))
	}
	r := recs[0]
	wantMeta := ivr.RecordingMeta{
		CallID: "call-1", Caller: "+33612345678", Dialled: "3000", Driver: "test",
		Flow: "main", FlowVersion: "v1", Node: "rec", ConsentID: "consent-1",
		StartedAt: ivrtest.Epoch.Add(8 * s),
	}
	if r.Meta != wantMeta {
		t.Errorf("meta = %+v\nwant %+v", r.Meta, wantMeta)
	}
	if r.Frames != frames(3*s) || r.SilentFrames != frames(1*s) || r.Samples != 160*frames(3*s) {
		t.Errorf("frames %d (silent %d, samples %d), want %d (silent %d)", r.Frames, r.SilentFrames, r.Samples, frames(3*s), frames(1*s))
	}
	wantPauses := []ivrtest.Pause{{At: ivrtest.Epoch.Add(9 * s), Reason: "flow", Resumed: ivrtest.Epoch.Add(10 * s)}}
	if !slices.Equal(r.Pauses, wantPauses) {
		t.Errorf("pauses = %+v, want %+v", r.Pauses, wantPauses)
	}
	if !r.Closed || r.Aborted || r.LateWrites != 0 {
		t.Errorf("closed %v aborted %v late writes %d, want closed only", r.Closed, r.Aborted, r.LateWrites)
	}
	recorders := sv.rcall.Recorders()
	if len(recorders) != 1 {
		t.Fatalf("%d recorders, want 1", len(recorders))
	}
	if rc := recorders[0]; rc.Start != 8*s || rc.End != 11*s || rc.Pauses != 1 || rc.Paused || rc.WriteErr != nil {
		t.Errorf("recorder = %+v", rc)
	}
}

// fileEnd is how a recording ended.
type fileEnd struct {
	id              string
	closed, aborted bool
}

// A record node records only with an accepted, stored consent, on a call
// the driver can record; failing to record never fails the call.
func TestRecordStart(t *testing.T) {
	recordAfter := func(first ...*ivr.Node) *ivr.Flow {
		return newFlow(append(first, recordNode("rec", "after", ivr.RecordStart), playNode("after", "", false))...)
	}
	tests := []struct {
		name       string
		flow       *ivr.Flow
		keys       []press
		noRecord   bool // the call is not recordable
		recordErr  error
		createErr  error
		result     string
		recorders  int
		recordings []fileEnd
	}{{
		name:   "no consent node before",
		flow:   recordAfter(playNode("welcome", "rec", false)),
		result: "not recorded: no consent",
	}, {
		name:   "consent refused",
		flow:   recordAfter(consentNode("consent", "rec", ivr.ConsentNode{})),
		keys:   []press{{1 * s, "9"}},
		result: "not recorded: consent refused",
	}, {
		name:     "the driver cannot record",
		flow:     recordAfter(accept("rec")),
		noRecord: true,
		result:   "not recorded: driver cannot record",
	}, {
		name:      "the store cannot create the file",
		flow:      recordAfter(accept("rec")),
		createErr: errors.New("disk full"),
		result:    "not recorded: store failed",
	}, {
		name:       "the driver fails: the file is deleted",
		flow:       recordAfter(accept("rec")),
		recordErr:  errors.New("no media"),
		result:     "not recorded: driver failed",
		recordings: []fileEnd{{"rec-1", false, true}},
	}, {
		name:       "a recording running when the flow ends is closed",
		flow:       recordAfter(accept("rec")),
		result:     "recording started",
		recorders:  1,
		recordings: []fileEnd{{"rec-1", true, false}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := &ivrtest.MemRecordings{CreateErr: tt.createErr}
			sv := serve(t, scenario{
				flow: tt.flow, keys: tt.keys, durations: consentDurations,
				recordings: mem, recordable: !tt.noRecord, recordErr: tt.recordErr,
			})
			sv.check(t, nil, map[string]string{"rec": tt.result}, ivr.OutcomeHangup)
			var got []fileEnd
			for _, r := range mem.Recordings() {
				got = append(got, fileEnd{r.ID, r.Closed, r.Aborted})
			}
			if !slices.Equal(got, tt.recordings) {
				t.Errorf("recordings = %+v, want %+v", got, tt.recordings)
			}
			if sv.rcall != nil && len(sv.rcall.Recorders()) != tt.recorders {
				t.Errorf("%d recorders, want %d", len(sv.rcall.Recorders()), tt.recorders)
			}
		})
	}
}

// A caller hanging up while recorded: the recording is stopped and closed
// although the call's context is done.
func TestRecordHangup(t *testing.T) {
	mem := &ivrtest.MemRecordings{}
	sv := serve(t, scenario{
		flow:       newFlow(accept("rec"), recordNode("rec", "long", ivr.RecordStart), playNode("long", "", false)),
		durations:  map[string]time.Duration{"notice": 5 * s, "long": 60 * s},
		hangupAt:   20 * s,
		recordings: mem,
		recordable: true,
	})
	sv.check(t, nil, nil, ivr.OutcomeHungUpInIVR)
	recs := mem.Recordings()
	if len(recs) != 1 || !recs[0].Closed || recs[0].Frames != frames(12*s) {
		t.Fatalf("recordings = %+v, want one closed of %d frames", recs, frames(12*s))
	}
	if rc := sv.rcall.Recorders()[0]; rc.End != 20*s {
		t.Errorf("recorder stopped at %v, want 20s", rc.End)
	}
}

// logLines captures JSON log lines.
type logLines struct{ bytes.Buffer }

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&l.Buffer, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// find returns the lines whose msg is msg.
func (l *logLines) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// PCI DSS: card codes must not be recorded. A sensitive collect pauses the
// recording for its prompt and its keys, and the pause is logged.
func TestRecordSensitiveCollect(t *testing.T) {
	pin := input("pin")
	tests := []struct {
		name     string
		first    []*ivr.Node // between the record node and the collect
		result   string
		pauses   []ivrtest.Pause
		silent   time.Duration
		loggedAt []string // nodes of the "recording paused" lines
	}{{
		name:   "recording",
		result: "recording paused; collected **** (terminator); recording resumed",
		pauses: []ivrtest.Pause{{At: ivrtest.Epoch.Add(8 * s), Reason: "sensitive input pin", Resumed: ivrtest.Epoch.Add(9 * s)}},
		silent: 1 * s, loggedAt: []string{"pin"},
	}, {
		name:   "already paused by the flow: stays paused after",
		first:  []*ivr.Node{recordNode("pause", "pin", ivr.RecordPause)},
		result: "collected **** (terminator)",
		pauses: []ivrtest.Pause{{At: ivrtest.Epoch.Add(8 * s), Reason: "flow"}},
		silent: 2 * s, loggedAt: []string{"pause"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logLines
			mem := &ivrtest.MemRecordings{}
			next := "pin"
			if len(tt.first) > 0 {
				next = tt.first[0].Name
			}
			nodes := append([]*ivr.Node{accept("rec"), recordNode("rec", next, ivr.RecordStart)}, tt.first...)
			nodes = append(nodes,
				collectNode("pin", "after", ivr.CollectNode{Input: pin, Var: "pin", Terminator: '#', Sensitive: true}),
				playNode("after", "", false))
			sv := serve(t, scenario{
				flow:       newFlow(nodes...),
				keys:       []press{{9 * s, "1234#"}},
				durations:  map[string]time.Duration{"notice": 5 * s, "pin": 3 * s},
				recordings: mem,
				recordable: true,
				logger:     logs.logger(),
			})
			sv.check(t, nil, map[string]string{"pin": tt.result}, ivr.OutcomeHangup)
			if sv.rec.Digits != "****#" {
				t.Errorf("digits = %q, want the PIN masked", sv.rec.Digits)
			}
			recs := mem.Recordings()
			if len(recs) != 1 {
				t.Fatalf("%d recordings, want 1", len(recs))
			}
			r := recs[0]
			// 8 s to 10 s: the collect from 8 s to 9 s (its prompt
			// stopped by the keys, the terminator at once), then "after".
			if !slices.Equal(r.Pauses, tt.pauses) {
				t.Errorf("pauses = %+v, want %+v", r.Pauses, tt.pauses)
			}
			if r.Frames != frames(2*s) || r.SilentFrames != frames(tt.silent) {
				t.Errorf("frames %d silent %d, want %d silent %d", r.Frames, r.SilentFrames, frames(2*s), frames(tt.silent))
			}
			var at []string
			for _, l := range logs.find(t, "recording paused") {
				if l["call_id"] != "call-1" || l["recording_id"] != "rec-1" {
					t.Errorf("log line %v lacks call_id or recording_id", l)
				}
				at = append(at, l["node"].(string))
			}
			if !slices.Equal(at, tt.loggedAt) {
				t.Errorf("recording paused logged at %v, want %v", at, tt.loggedAt)
			}
			if l := logs.String(); strings.Contains(l, `"1234"`) || strings.Contains(l, `"digit":"1"`) {
				t.Error("the PIN is in the logs")
			}
		})
	}
}

// queueRecordFlow: the consent node (answered by the keys of the test),
// then a queue that records the agent conversation; an agent takes the
// call at 33 s.
func queueRecordFlow(record bool, before ...*ivr.Node) scenario {
	next := "queue"
	if len(before) > 0 {
		next = before[0].Name
	}
	nodes := append([]*ivr.Node{consentNode("consent", next, ivr.ConsentNode{})}, before...)
	nodes = append(nodes, &ivr.Node{Name: "queue", Kind: ivr.KindQueue, Queue: &ivr.QueueNode{
		Queue: "billing", Hold: say("hold"), Record: record,
	}})
	return scenario{
		flow:         newFlow(nodes...),
		durations:    map[string]time.Duration{"notice": 5 * s, "hold": 10 * s},
		connectAfter: 25 * s,
		recordable:   true,
		recordings:   &ivrtest.MemRecordings{},
	}
}

// The conversation with the agent is recorded from the moment the agent
// takes the call until the call ends.
func TestQueueRecord(t *testing.T) {
	tests := []struct {
		name   string
		before []*ivr.Node
		record bool
		result string
		meta   ivr.RecordingMeta // Node, Queue and StartedAt compared
		// frames before the agent talks 60 s; frames after, in all.
		during, after time.Duration
	}{{
		name:   "started when the agent takes the call",
		record: true,
		result: "connected to agent-1 after 25s; recording started; ended by caller after 1m0s",
		meta:   ivr.RecordingMeta{Node: "queue", Queue: "billing", StartedAt: ivrtest.Epoch.Add(33 * s)},
		during: 0, after: 60 * s,
	}, {
		name:   "already running: goes on with the agent",
		before: []*ivr.Node{recordNode("rec", "queue", ivr.RecordStart)},
		record: true,
		result: "connected to agent-1 after 25s; already recording; ended by caller after 1m0s",
		meta:   ivr.RecordingMeta{Node: "rec", StartedAt: ivrtest.Epoch.Add(8 * s)},
		during: 25 * s, after: 85 * s,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := queueRecordFlow(tt.record, tt.before...)
			mem := sc.recordings
			// The caller hangs up after 60 s with the agent.
			sc.hangupAt = 93 * s
			sc.duringTalk = func(clock *ivrtest.Clock, call *ivrtest.RecordableCall) {
				recs := mem.Recordings()
				if len(recs) != 1 || recs[0].Closed || recs[0].Aborted {
					t.Errorf("recordings when connected = %+v, want one running", recs)
				}
				if rc := call.Recorders()[0]; rc.End != -1 {
					t.Errorf("recorder stopped at %v when connected", rc.End)
				}
			}
			sv := serve(t, sc)
			sv.check(t, nil, map[string]string{"consent": "accepted", "queue": tt.result}, ivr.OutcomeConnected)
			recs := mem.Recordings()
			if len(recs) != 1 {
				t.Fatalf("%d recordings, want 1", len(recs))
			}
			r := recs[0]
			if r.Meta.Node != tt.meta.Node || r.Meta.Queue != tt.meta.Queue || !r.Meta.StartedAt.Equal(tt.meta.StartedAt) {
				t.Errorf("meta = %+v, want node %q queue %q started %v", r.Meta, tt.meta.Node, tt.meta.Queue, tt.meta.StartedAt)
			}
			if !r.Closed || r.Frames != frames(tt.after) {
				t.Errorf("closed %v frames %d, want closed with %d", r.Closed, r.Frames, frames(tt.after))
			}
			if rc := sv.rcall.Recorders()[0]; rc.End != 93*s || rc.Stops != 1 {
				t.Errorf("recorder = %+v, want stopped once at 93s", rc)
			}
			if c := sv.queue.Contacts()[0]; c.Vars[ivr.VarConsent] != "accepted" {
				t.Errorf("contact vars = %v, want the consent", c.Vars)
			}
		})
	}
}

// A recording of the IVR part stops when the call goes to an agent through
// a queue that does not record.
func TestQueueWithoutRecord(t *testing.T) {
	sc := queueRecordFlow(false, recordNode("rec", "queue", ivr.RecordStart))
	sc.talkFor = 10 * s
	sv := serve(t, sc)
	sv.check(t, nil, map[string]string{"queue": "connected to agent-1 after 25s; recording stopped; ended by agent after 10s"}, ivr.OutcomeConnected)
	recs := sc.recordings.Recordings()
	if len(recs) != 1 || !recs[0].Closed || recs[0].Frames != frames(25*s) {
		t.Fatalf("recordings = %+v, want one closed of %d frames", recs, frames(25*s))
	}
}

// CNIL SAN-2020-003: the agent's side kept being recorded after the caller
// pressed the opt-out key. After a refusal nothing records, on either leg:
// no recording is created and the driver is never asked to record.
func TestQueueRecordRefused(t *testing.T) {
	sc := queueRecordFlow(true, recordNode("rec", "queue", ivr.RecordStart))
	sc.keys = []press{{2 * s, "9"}}
	sc.talkFor = 60 * s
	sv := serve(t, sc)
	sv.check(t, nil, map[string]string{
		"consent": "refused key 9",
		"rec":     "not recorded: consent refused",
		"queue":   "connected to agent-1 after 25s; not recorded: consent refused; ended by agent after 1m0s",
	}, ivr.OutcomeConnected)
	if recs := sc.recordings.Recordings(); len(recs) != 0 {
		t.Errorf("recordings = %+v, want none", recs)
	}
	if rs := sv.rcall.Recorders(); len(rs) != 0 {
		t.Errorf("driver recorded %d times, want never", len(rs))
	}
	consents := sc.recordings.Consents()
	if len(consents) != 1 || consents[0].Choice != ivr.ConsentRefused || consents[0].Key != "9" {
		t.Errorf("consents = %+v, want one refusal with key 9", consents)
	}
	if c := sv.queue.Contacts()[0]; c.Vars[ivr.VarConsent] != "refused" {
		t.Errorf("contact vars = %v, want the refusal", c.Vars)
	}
}

package asterisk

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

func TestRecordingName(t *testing.T) {
	tests := []struct {
		app, channel string
		n            int
		spy          string
		want         string
	}{
		{"ivrd", "1795439804.0", 1, spyIn, "ivrd-rec-ivrd-1795439804_0-1-in"},
		{"ivrd", "pbx-1-1795439804.12", 3, spyOut, "ivrd-rec-ivrd-pbx-1-1795439804_12-3-out"},
		// An application name with a dash cannot make its prefix a prefix
		// of another application's names.
		{"ivrd-b", "x/../y", 1, spyIn, "ivrd-rec-ivrd_b-x____y-1-in"},
		{"ivrd é", "a b", 2, spyIn, "ivrd-rec-ivrd__-a_b-2-in"},
	}
	for _, tt := range tests {
		got := recordingName(tt.app, tt.channel, tt.n, tt.spy)
		if got != tt.want {
			t.Errorf("recordingName(%q, %q, %d, %q) = %q, want %q", tt.app, tt.channel, tt.n, tt.spy, got, tt.want)
		}
		if !strings.HasPrefix(got, recordingPrefix(tt.app)) {
			t.Errorf("%q does not start with its application's prefix %q", got, recordingPrefix(tt.app))
		}
	}
	if strings.HasPrefix(recordingName("ivrd-b", "1", 1, spyIn), recordingPrefix("ivrd")) {
		t.Error("a recording of application ivrd-b looks like one of application ivrd")
	}
}

func TestHandoffVarsConsent(t *testing.T) {
	tests := []struct {
		name        string
		consent     string
		recordAgent bool
		wantConsent string
		wantRecord  string
	}{
		{"accepted, queue records", "accepted", true, "accepted", "1"},
		{"accepted, queue does not record", "accepted", false, "accepted", "0"},
		{"refused, queue records", "refused", true, "refused", "0"},
		{"not asked", "", true, "", "0"},
		{"unknown value", "maybe", true, "", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := ivr.Contact{Queue: "billing", Vars: map[string]string{}}
			if tt.consent != "" {
				ct.Vars[ivr.VarConsent] = tt.consent
			}
			vars := map[string]string{}
			var order []string
			for _, v := range handoffVars(ct, tt.recordAgent) {
				vars[v[0]] = v[1]
				order = append(order, v[0])
			}
			if got := vars["__IVRD_RECORDING_CONSENT"]; got != tt.wantConsent {
				t.Errorf("__IVRD_RECORDING_CONSENT = %q, want %q", got, tt.wantConsent)
			}
			if got := vars["__IVRD_RECORD"]; got != tt.wantRecord {
				t.Errorf("__IVRD_RECORD = %q, want %q", got, tt.wantRecord)
			}
			if order[0] != "__IVRD_RECORDING_CONSENT" || order[1] != "__IVRD_RECORD" {
				t.Errorf("variables set in order %q: the recording ones go first", order)
			}
		})
	}
}

// storedFiles serves WAV files as ARI's GET /recordings/stored/{name}/file.
func storedFiles(t *testing.T, files map[string][]byte) *Driver {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/ari/recordings/stored/")
		name, ok2 := strings.CutSuffix(name, "/file")
		b, ok3 := files[name]
		if !ok || !ok2 || !ok3 {
			http.Error(w, `{"message":"Recording not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	d, err := New(Config{URL: srv.URL + "/ari", App: "ivrd", Handler: func(context.Context, ivr.Call) {},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type frameSink struct {
	left, right []int16
	sizes       []int
}

func (s *frameSink) WriteFrames(caller, other []int16) error {
	s.sizes = append(s.sizes, len(caller), len(other))
	s.left = append(s.left, caller...)
	s.right = append(s.right, other...)
	return nil
}

func ramp(n int, from int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = from + int16(i%1000)
	}
	return s
}

// deliver lines the two files up on the times Asterisk started them, pads
// the shorter with silence, cuts 160-sample frames and blanks the pauses
// Asterisk failed to mute.
func TestDeliver(t *testing.T) {
	in, out := ramp(1000, 1), ramp(700, 2000)
	wav := func(s []int16) []byte {
		return riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", pcmBytes(s)})
	}
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		outLater  time.Duration // how much later the out recording started
		pauses    []pause       // relative to begun
		wantLeft  []int16
		wantRight []int16
	}{
		{
			name:      "same start",
			wantLeft:  in,
			wantRight: out,
		},
		{
			name:      "out started 5 ms later",
			outLater:  5 * time.Millisecond,
			wantLeft:  in,
			wantRight: append(make([]int16, 40), out...),
		},
		{
			name:      "in started 10 ms later",
			outLater:  -10 * time.Millisecond,
			wantLeft:  append(make([]int16, 80), in...),
			wantRight: out,
		},
		{
			name:      "clock jump is not skew",
			outLater:  3 * time.Second,
			wantLeft:  in,
			wantRight: out,
		},
		{
			// 20 ms to 30 ms, widened by 100 ms each side: samples 0 to 1040.
			name:      "pause not muted",
			pauses:    []pause{{from: start.Add(20 * time.Millisecond), to: start.Add(30 * time.Millisecond)}},
			wantLeft:  make([]int16, 1000),
			wantRight: make([]int16, 700),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := storedFiles(t, map[string][]byte{"r-in": wav(in), "r-out": wav(out)})
			c := &call{d: d, log: d.log, id: "ch"}
			r := &recorder{c: c, sink: &frameSink{}, log: d.log, begun: start, pauses: tt.pauses}
			r.legs = [2]*leg{newLeg("r-in", spyIn), newLeg("r-out", spyOut)}
			r.legs[0].startedAt = start
			r.legs[1].startedAt = start.Add(tt.outLater)
			sink := r.sink.(*frameSink)
			frames, err := r.deliver(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			longest := max(len(tt.wantLeft), len(tt.wantRight))
			if want := (longest + frameSamples - 1) / frameSamples; frames != want {
				t.Errorf("%d frames, want %d", frames, want)
			}
			for _, n := range sink.sizes {
				if n != frameSamples {
					t.Fatalf("frame sizes %v, want %d each", sink.sizes, frameSamples)
				}
			}
			wantLeft := append(slices.Clone(tt.wantLeft), make([]int16, frames*frameSamples-len(tt.wantLeft))...)
			wantRight := append(slices.Clone(tt.wantRight), make([]int16, frames*frameSamples-len(tt.wantRight))...)
			if !slices.Equal(sink.left, wantLeft) {
				t.Errorf("left channel differs (%d samples, want %d)", len(sink.left), len(wantLeft))
			}
			if !slices.Equal(sink.right, wantRight) {
				t.Errorf("right channel differs (%d samples, want %d)", len(sink.right), len(wantRight))
			}
		})
	}
}

func TestDeliverMissingFile(t *testing.T) {
	d := storedFiles(t, map[string][]byte{"r-in": riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", pcmBytes(ramp(10, 1))})})
	c := &call{d: d, log: d.log, id: "ch"}
	r := &recorder{c: c, sink: &frameSink{}, log: d.log, begun: time.Now()}
	r.legs = [2]*leg{newLeg("r-in", spyIn), newLeg("r-out", spyOut)}
	if _, err := r.deliver(context.Background()); err == nil || !strings.Contains(err.Error(), "r-out") {
		t.Fatalf("deliver = %v, want an error naming the missing recording", err)
	}
}

// A snoop channel entering the application is not a call. One named like
// this application's recordings that no recording owns (left by an ivrd
// that stopped) is hung up; another client's is left alone.
func TestSnoopIsNotACall(t *testing.T) {
	f := newFakeARI(t, "secret")
	calls := make(chan string, 4)
	runDriver(t, f, "secret", func(ctx context.Context, c ivr.Call) { calls <- c.ID() })
	<-f.conns
	snoop := func(id, args string) string {
		return `{"type":"StasisStart","application":"ivrd","args":["` + args + `"],
		 "channel":{"id":"` + id + `","name":"Snoop/ch-1-00000000","state":"Up"}}`
	}
	f.send(t, snoop("ivrd-rec-ivrd-ch_1-1-in", snoopMarker))
	f.send(t, snoop("someone-else", snoopMarker))
	f.send(t, stasisStart) // a call, to know the events before it were handled
	if id := <-calls; id != "ch-1" {
		t.Fatalf("handler got call %q, want ch-1 only", id)
	}
	waitFor(t, "the stale snoop's hang-up", func() bool { return f.sawRequest("DELETE /channels/ivrd-rec-ivrd-ch_1-1-in") })
	if f.sawRequest("DELETE /channels/someone-else") {
		t.Error("hung up another client's snoop channel")
	}
	select {
	case id := <-calls:
		t.Errorf("handler got a call for %q", id)
	default:
	}
}

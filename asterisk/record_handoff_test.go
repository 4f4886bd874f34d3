package asterisk_test

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// teeRecordings is an ivrtest.MemRecordings that also keeps the audio of
// its recordings in a memSink, and when each was created.
type teeRecordings struct {
	*ivrtest.MemRecordings
	sink *memSink

	mu      sync.Mutex
	created []time.Time
}

func (r *teeRecordings) Create(ctx context.Context, meta ivr.RecordingMeta) (ivr.RecordingFile, error) {
	f, err := r.MemRecordings.Create(ctx, meta)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.created = append(r.created, time.Now())
	r.mu.Unlock()
	return teeFile{RecordingFile: f, sink: r.sink}, nil
}

func (r *teeRecordings) createdAt() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.created...)
}

type teeFile struct {
	ivr.RecordingFile
	sink *memSink
}

func (f teeFile) WriteFrames(caller, other []int16) error {
	if err := f.sink.WriteFrames(caller, other); err != nil {
		return err
	}
	return f.RecordingFile.WriteFrames(caller, other)
}

// handoffFlow asks for consent (refused with key 1) and hands the call to
// queue support, which the driver continues in the dialplan, with record:
// true.
func handoffFlow() *ivr.FlowSet {
	f := &ivr.Flow{
		Name: "handoff", Version: "v1", Language: "en", Entry: "consent",
		Nodes: map[string]*ivr.Node{
			"consent": {Name: "consent", Kind: ivr.KindConsent, Next: "queue", Consent: &ivr.ConsentNode{
				Prompt:    ivr.Prompt{{Audio: &ivr.Audio{ID: "notice", Path: "notice.wav", Text: "this call may be recorded"}}},
				RefuseKey: '1',
				Window:    300 * time.Millisecond,
			}},
			"queue": {Name: "queue", Kind: ivr.KindQueue, Queue: &ivr.QueueNode{Queue: "support", Record: true}},
		},
	}
	return &ivr.FlowSet{Flows: map[string]*ivr.Flow{f.Name: f}, Routes: ivr.Routes{Default: f.Name}}
}

// agentDialplan stands in for a dialplan queue: the agent answers, plays
// an agentHz tone to the caller for 2 s and hangs up. It records nothing
// itself.
const agentHz = 440

const agentDialplan = `[ivrd-queue-rec]
exten => _[0-9a-zA-Z]!,1,NoOp(queue ${EXTEN}: consent ${IVRD_RECORDING_CONSENT}, record ${IVRD_RECORD})
 same => n,Dial(Local/agent@ivrd-agent,10)
 same => n,Hangup()

[ivrd-agent]
exten => agent,1,Answer()
 same => n,Playtones(440)
 same => n,Wait(2)
 same => n,Hangup()
`

// callUntilBye calls number with sipp playing scenario (in sipp's working
// folder, pcap holds tone.pcap's samples, if any) until Asterisk hangs up.
func callUntilBye(t *testing.T, ast *asterisktest.Asterisk, number, scenario string, pcap []int16) {
	t.Helper()
	dir := t.TempDir()
	if pcap != nil {
		if err := writeTonePCAP(filepath.Join(dir, "tone.pcap"), pcap); err != nil {
			t.Fatal(err)
		}
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", sf, "-m", "1", "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-s", number, "-timeout", "30s", "-timeout_error", "-nostdin",
		ast.SIPAddr)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sipp: %v\n%s", err, out)
	}
}

// A call whose caller accepted the recording and whose queue (record: true)
// is handed to the dialplan: ivrd records the conversation with the agent
// there, from the handoff until the agent hangs up, into its own store as
// a stereo recording (the caller left, the agent right), and nothing stays
// in Asterisk. A refusal on the same path records nothing.
func TestDialplanHandoffRecordsAgent(t *testing.T) {
	noLeaks(t)
	ast := recordingAsterisk(t, asterisktest.Options{Dialplan: agentDialplan})
	tests := []struct {
		name     string
		scenario string
		pcap     []int16
		consent  ivr.ConsentChoice
	}{
		{"accepted", "uac_tone_wait_bye.xml", tone(callerHz, 12*time.Second), ivr.ConsentAccepted},
		{"refused", "uac_key1_wait_bye.xml", nil, ivr.ConsentRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &memSink{}
			recs := &teeRecordings{MemRecordings: &ivrtest.MemRecordings{}, sink: sink}
			set := handoffFlow()
			served := make(chan error, 1)
			var (
				goneMu sync.Mutex
				goneAt time.Time
				goneWG sync.WaitGroup
			)
			log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			eng := ivr.NewEngine(ivr.FlowsFunc(func() *ivr.FlowSet { return set }), ivr.WithRecordings(recs), ivr.WithLogger(log))
			startRecording(t, ast, func(ctx context.Context, _ *recEnv, call ivr.Call) {
				l, ok := call.(ivr.Lingerer)
				if !ok {
					served <- nil
					return
				}
				goneWG.Add(1)
				go func() {
					defer goneWG.Done()
					<-l.Gone()
					goneMu.Lock()
					goneAt = time.Now()
					goneMu.Unlock()
				}()
				served <- eng.Serve(ctx, call, "ari")
			})

			callUntilBye(t, ast, "3900", tt.scenario, tt.pcap)
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := eng.Wait(ctx); err != nil {
				t.Fatalf("engine Wait: %v", err)
			}
			goneWG.Wait()

			consents := recs.Consents()
			if len(consents) != 1 || consents[0].Choice != tt.consent {
				t.Fatalf("consents = %+v, want one %s", consents, tt.consent)
			}
			stored, snoops, err := leftovers(ast)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 0 || len(snoops) != 0 {
				t.Errorf("Asterisk holds recordings %q and snoop channels %q; want none", stored, snoops)
			}
			if files, _ := filepath.Glob(ast.HostPath(ast.Dir + "/spool/monitor/*")); len(files) != 0 {
				t.Errorf("the dialplan recorded %q", files)
			}

			all := recs.Recordings()
			left, right, frames, bad := sink.snapshot()
			if tt.consent == ivr.ConsentRefused {
				if len(all) != 0 || frames != 0 {
					t.Errorf("after a refusal: recordings %+v, %d frames; want none", all, frames)
				}
				return
			}
			if len(all) != 1 {
				t.Fatalf("recordings = %+v, want 1", all)
			}
			r := all[0]
			if !r.Closed || r.Meta.Queue != "support" || r.Meta.Node != "queue" || r.Meta.ConsentID != consents[0].ID {
				t.Errorf("recording = %+v, want closed, of queue support at node queue with the consent", r)
			}
			goneMu.Lock()
			wall := goneAt.Sub(recs.createdAt()[0])
			goneMu.Unlock()
			got := time.Duration(len(left)) * time.Second / 8000
			t.Logf("recording: %d frames (%v) for %v from the handoff to the hang-up", frames, got, wall)
			if bad > 0 {
				t.Errorf("%d of %d frames were not 160 samples on both channels", bad, frames)
			}
			if (got - wall).Abs() > 200*time.Millisecond {
				t.Errorf("recording lasts %v, want the %v from the handoff to the hang-up ±200 ms", got, wall)
			}
			if got < 1500*time.Millisecond {
				t.Fatalf("recording too short to check: %v", got)
			}
			checkTone(t, "caller channel", left[at(200*time.Millisecond):at(got-300*time.Millisecond)], callerHz, agentHz)
			checkTone(t, "agent channel", right[at(300*time.Millisecond):at(got-300*time.Millisecond)], agentHz, callerHz)
		})
	}
}

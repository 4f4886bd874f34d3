package asterisk_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/websocket"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// The caller sends a 1000 Hz tone, ivrd plays a 440 Hz prompt: the two
// directions of a recording can be told apart by frequency.
const (
	callerHz = 1000
	promptHz = 440
)

// recEnv is a driver on a test Asterisk whose handler is the test's own.
type recEnv struct {
	ast      *asterisktest.Asterisk
	drv      *asterisk.Driver
	sessions atomic.Int32 // calls handed to the handler
}

// recordingAsterisk starts a test Asterisk with its recordings spool.
func recordingAsterisk(t *testing.T, opts asterisktest.Options) *asterisktest.Asterisk {
	t.Helper()
	ast := asterisktest.Start(t, opts)
	// Debian's package creates the recordings folder of the spool; the
	// test instance's spool starts empty.
	if err := os.MkdirAll(ast.HostPath(ast.Dir+"/spool/recording"), 0o755); err != nil {
		t.Fatal(err)
	}
	return ast
}

// startRecording starts, on ast, a prompt server playing a 3 s 440 Hz tone
// for any prompt and a driver running handler.
func startRecording(t *testing.T, ast *asterisktest.Asterisk, handler func(context.Context, *recEnv, ivr.Call)) *recEnv {
	t.Helper()
	prompt := wavBytes(t, tone(promptHz, 3*time.Second))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(prompt)
	}))
	t.Cleanup(srv.Close)

	e := &recEnv{ast: ast}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &http.Transport{}
	drv, err := asterisk.New(asterisk.Config{
		URL: ast.ARIURL, WSURL: ast.WSURL, User: ast.User, Password: ast.Password, App: ast.App,
		HTTPClient:    &http.Client{Transport: tr},
		PromptBaseURL: srv.URL + "/prompts",
		Handoff:       map[string]asterisk.HandoffConfig{"support": {Mode: asterisk.HandoffDialplan, Context: "ivrd-queue-rec"}},
		Backoff:       asterisk.Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Handler: func(ctx context.Context, call ivr.Call) {
			e.sessions.Add(1)
			handler(ctx, e, call)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.drv = drv
	done := make(chan struct{})
	go func() { defer close(done); _ = drv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; tr.CloseIdleConnections() })
	waitApp(t, ast)
	return e
}

// tone is d of a sine at hz, amplitude 8000.
func tone(hz float64, d time.Duration) []int16 {
	s := make([]int16, int(d*8000/time.Second))
	for i := range s {
		s[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
	}
	return s
}

func wavBytes(t *testing.T, samples []int16) []byte {
	t.Helper()
	var b strings.Builder
	if err := media.WriteWAV(&b, samples, 8000, 1); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// callWithTone calls number with sipp, which sends a 1000 Hz tone from the
// answer on and hangs up after stay. It returns once sipp is done.
func callWithTone(t *testing.T, ast *asterisktest.Asterisk, number string, stay time.Duration) {
	t.Helper()
	dir := t.TempDir()
	if err := writeTonePCAP(filepath.Join(dir, "tone.pcap"), tone(callerHz, stay+time.Second)); err != nil {
		t.Fatal(err)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", "uac_tone_bye.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", sf, "-m", "1", "-t", "u1", "-d", strconv.Itoa(int(stay.Milliseconds())),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-s", number, "-timeout", "30s", "-timeout_error", "-nostdin",
		ast.SIPAddr)
	cmd.Dir = dir // the scenario plays tone.pcap from its working folder
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sipp: %v\n%s", err, out)
	}
}

// writeTonePCAP writes samples as a μ-law RTP stream, one packet every
// 20 ms, in a pcap file (Ethernet, IPv4, UDP) for sipp's play_pcap_audio.
func writeTonePCAP(path string, samples []int16) error {
	le, be := binary.LittleEndian, binary.BigEndian
	var b []byte
	b = le.AppendUint32(b, 0xa1b2c3d4) // magic, microseconds
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)     // time zone
	b = le.AppendUint32(b, 0)     // accuracy
	b = le.AppendUint32(b, 65535) // snap length
	b = le.AppendUint32(b, 1)     // Ethernet
	payload := make([]byte, 160)
	for i := 0; (i+1)*160 <= len(samples); i++ {
		media.EncodeUlaw(payload, samples[i*160:(i+1)*160])
		rtp := media.RTPHeader{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 0x1d1d}
		pkt := make([]byte, media.RTPHeaderSize, media.RTPHeaderSize+len(payload))
		if _, err := rtp.MarshalTo(pkt); err != nil {
			return err
		}
		pkt = append(pkt, payload...)
		frame := make([]byte, 14+20+8, 14+20+8+len(pkt))
		be.PutUint16(frame[12:], 0x0800)
		ip := frame[14:34]
		ip[0] = 0x45
		be.PutUint16(ip[2:], uint16(20+8+len(pkt)))
		ip[8], ip[9] = 64, 17
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 1})
		udp := frame[34:42]
		be.PutUint16(udp[0:], 6000)
		be.PutUint16(udp[2:], 6000)
		be.PutUint16(udp[4:], uint16(8+len(pkt)))
		frame = append(frame, pkt...)
		us := i * 20000
		b = le.AppendUint32(b, uint32(us/1e6))
		b = le.AppendUint32(b, uint32(us%1e6))
		b = le.AppendUint32(b, uint32(len(frame)))
		b = le.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	return os.WriteFile(path, b, 0o644)
}

// memSink keeps what a recording delivers.
type memSink struct {
	mu          sync.Mutex
	left, right []int16
	frames      int
	badFrames   int // frames not of 160 samples on both channels
}

func (s *memSink) WriteFrames(caller, other []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(caller) != 160 || len(other) != 160 {
		s.badFrames++
	}
	s.left = append(s.left, caller...)
	s.right = append(s.right, other...)
	s.frames++
	return nil
}

func (s *memSink) snapshot() (left, right []int16, frames, bad int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.left), slices.Clone(s.right), s.frames, s.badFrames
}

// at is the sample index of offset d into a recording.
func at(d time.Duration) int { return int(d * 8000 / time.Second) }

// power is the power of frequency hz in s (Goertzel), per sample.
func power(s []int16, hz float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*hz/8000)
	var q1, q2 float64
	for _, x := range s {
		q0 := coeff*q1 - q2 + float64(x)
		q2, q1 = q1, q0
	}
	return (q1*q1 + q2*q2 - coeff*q1*q2) / float64(len(s)*len(s))
}

// checkTone checks that window holds a clear tone at want and hardly any
// of other.
func checkTone(t *testing.T, what string, window []int16, want, other float64) {
	t.Helper()
	if len(window) < 400 {
		t.Errorf("%s: window of %d samples is too short to check", what, len(window))
		return
	}
	pw, po := power(window, want), power(window, other)
	// A full-scale-ish tone of amplitude 8000 gives about 8000²/4.
	if pw < 1e6 || pw < 100*po {
		t.Errorf("%s: power at %v Hz %.3g, at %v Hz %.3g; want the %v Hz tone alone", what, want, pw, other, po, want)
	}
}

// checkSilent checks that window is all zeros, as a muted recording writes.
func checkSilent(t *testing.T, what string, window []int16) {
	t.Helper()
	if len(window) == 0 {
		t.Errorf("%s: empty window", what)
		return
	}
	for i, x := range window {
		if x != 0 {
			t.Errorf("%s: sample %d of %d is %d, want silence", what, i, len(window), x)
			return
		}
	}
}

// noLeaks fails t if goroutines started during the test outlive it; call
// it first, so that its check runs after every other cleanup.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// ariClient keeps no idle connections, so that the tests leave no
// goroutine behind.
var ariClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// ariDo sends one request to the test Asterisk's ARI and decodes a JSON
// answer into out (if not nil).
func ariDo(ast *asterisktest.Asterisk, method, path string, out any) error {
	req, err := http.NewRequest(method, ast.ARIURL+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(ast.User, ast.Password)
	res, err := ariClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var body json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, res.Status, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// leftovers lists the stored recordings and the snoop channels in Asterisk.
func leftovers(ast *asterisktest.Asterisk) (stored, snoops []string, err error) {
	var recs []struct{ Name string }
	if err := ariDo(ast, http.MethodGet, "/recordings/stored", &recs); err != nil {
		return nil, nil, err
	}
	for _, r := range recs {
		stored = append(stored, r.Name)
	}
	var chans []struct{ ID, Name string }
	if err := ariDo(ast, http.MethodGet, "/channels", &chans); err != nil {
		return nil, nil, err
	}
	for _, c := range chans {
		if strings.HasPrefix(c.Name, "Snoop/") {
			snoops = append(snoops, c.ID)
		}
	}
	return stored, snoops, nil
}

// recordRun is what a handler saw while recording.
type recordRun struct {
	err      error         // first failure
	t1, t2   time.Duration // pause and resume, from the start of the recording
	length   time.Duration // from the start of the recording to Stop
	active   int           // calls the driver served while recording
	stored   []string      // stored recordings after Stop
	snoops   []string      // snoop channels after Stop
	stopped2 error         // a second Stop

	recordTook, stopTook time.Duration
}

// A recording made while ivrd plays a prompt and the caller sends a tone,
// paused in the middle: the sink gets 160-sample stereo frames lasting as
// long as the recording, silent on both channels during the pause, the
// caller's tone on the left and the prompt on the right. The snoop
// channels start no call, and nothing of the recording stays in Asterisk.
func TestRecordStereoWithPause(t *testing.T) {
	noLeaks(t)
	sink := &memSink{}
	runs := make(chan recordRun, 1)
	handler := func(ctx context.Context, e *recEnv, call ivr.Call) {
		var r recordRun
		defer func() { runs <- r }()
		fail := func(err error) { r.err = errors.Join(r.err, err) }
		if err := call.Answer(ctx); err != nil {
			fail(err)
			return
		}
		time.Sleep(300 * time.Millisecond) // the caller's tone flows
		asked := time.Now()
		rec, err := call.(ivr.Recordable).Record(ctx, sink)
		if err != nil {
			fail(err)
			return
		}
		start := time.Now()
		r.recordTook = start.Sub(asked)
		if _, err := call.Play(ctx, []ivr.Audio{{ID: "tone", Path: "tone.wav", Text: "a tone"}}); err != nil {
			fail(err)
		}
		time.Sleep(700 * time.Millisecond)
		rec.Pause()
		r.t1 = time.Since(start)
		time.Sleep(600 * time.Millisecond)
		rec.Resume()
		r.t2 = time.Since(start)
		time.Sleep(700 * time.Millisecond)
		r.active = e.drv.ActiveCalls()
		r.length = time.Since(start)
		if err := rec.Stop(ctx); err != nil {
			fail(err)
		}
		r.stopTook = time.Since(start) - r.length
		r.stored, r.snoops, err = leftovers(e.ast)
		if err != nil {
			fail(err)
		}
		r.stopped2 = rec.Stop(ctx)
		<-ctx.Done() // the caller hangs up
	}
	e := startRecording(t, recordingAsterisk(t, asterisktest.Options{}), handler)
	callWithTone(t, e.ast, "3900", 4*time.Second)

	var r recordRun
	select {
	case r = <-runs:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never reached the handler")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	left, right, frames, bad := sink.snapshot()
	t.Logf("recording: %d frames (%v) for %v of wall time; pause %v to %v; Record took %v, Stop %v", frames,
		time.Duration(len(left))*time.Second/8000, r.length, r.t1, r.t2, r.recordTook, r.stopTook)
	if bad > 0 {
		t.Errorf("%d of %d frames were not 160 samples on both channels", bad, frames)
	}
	if got := time.Duration(len(left)) * time.Second / 8000; (got - r.length).Abs() > 100*time.Millisecond {
		t.Errorf("recording lasts %v, want the %v it ran ±100 ms", got, r.length)
	}
	const edge = 60 * time.Millisecond // timing of requests and frames
	if len(left) < at(r.length-edge) {
		t.Fatalf("recording too short to check: %d samples", len(left))
	}
	checkSilent(t, "caller channel during the pause", left[at(r.t1+edge):at(r.t2-edge)])
	checkSilent(t, "ivrd channel during the pause", right[at(r.t1+edge):at(r.t2-edge)])
	checkTone(t, "caller channel before the pause", left[at(100*time.Millisecond):at(r.t1-edge)], callerHz, promptHz)
	checkTone(t, "caller channel after the pause", left[at(r.t2+edge):at(r.length-edge)], callerHz, promptHz)
	// The prompt starts once Asterisk has fetched it from ivrd.
	checkTone(t, "ivrd channel before the pause", right[at(300*time.Millisecond):at(r.t1-edge)], promptHz, callerHz)
	checkTone(t, "ivrd channel after the pause", right[at(r.t2+edge):at(r.length-edge)], promptHz, callerHz)

	if n := e.sessions.Load(); n != 1 {
		t.Errorf("the handler served %d calls, want 1: snoop channels are not calls", n)
	}
	if r.active != 1 {
		t.Errorf("the driver served %d calls while recording, want 1", r.active)
	}
	if len(r.stored) != 0 || len(r.snoops) != 0 {
		t.Errorf("after Stop, Asterisk holds recordings %q and snoop channels %q; want none", r.stored, r.snoops)
	}
	if r.stopped2 != nil {
		t.Errorf("second Stop: %v", r.stopped2)
	}
	if _, _, n, _ := sink.snapshot(); n != frames {
		t.Errorf("a second Stop wrote %d more frames", n-frames)
	}
}

// Stop after the caller hung up, with the call's context done, still
// brings the audio home and empties the spool.
func TestRecordStopAfterHangup(t *testing.T) {
	noLeaks(t)
	sink := &memSink{}
	runs := make(chan recordRun, 1)
	e := startRecording(t, recordingAsterisk(t, asterisktest.Options{}), func(ctx context.Context, e *recEnv, call ivr.Call) {
		var r recordRun
		defer func() { runs <- r }()
		if err := call.Answer(ctx); err != nil {
			r.err = err
			return
		}
		time.Sleep(300 * time.Millisecond)
		rec, err := call.(ivr.Recordable).Record(ctx, sink)
		if err != nil {
			r.err = err
			return
		}
		start := time.Now()
		if _, err := call.Play(ctx, []ivr.Audio{{ID: "tone", Path: "tone.wav"}}); err != nil {
			r.err = err
		}
		<-ctx.Done()
		r.length = time.Since(start)
		time.Sleep(300 * time.Millisecond) // Asterisk is done with the channel
		r.err = errors.Join(r.err, rec.Stop(ctx))
		r.stored, r.snoops, err = leftovers(e.ast)
		r.err = errors.Join(r.err, err)
	})
	callWithTone(t, e.ast, "3900", 2*time.Second)

	var r recordRun
	select {
	case r = <-runs:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never reached the handler")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	left, right, frames, bad := sink.snapshot()
	t.Logf("recording: %d frames (%v) for %v until the hang-up", frames, time.Duration(len(left))*time.Second/8000, r.length)
	if bad > 0 {
		t.Errorf("%d of %d frames were not 160 samples on both channels", bad, frames)
	}
	if got := time.Duration(len(left)) * time.Second / 8000; (got - r.length).Abs() > 100*time.Millisecond {
		t.Errorf("recording lasts %v, want the %v until the hang-up ±100 ms", got, r.length)
	}
	if len(left) < at(r.length-100*time.Millisecond) {
		t.Fatalf("recording too short to check: %d samples", len(left))
	}
	checkTone(t, "caller channel", left[at(100*time.Millisecond):at(r.length-100*time.Millisecond)], callerHz, promptHz)
	checkTone(t, "ivrd channel", right[at(300*time.Millisecond):at(r.length-100*time.Millisecond)], promptHz, callerHz)
	if len(r.stored) != 0 || len(r.snoops) != 0 {
		t.Errorf("after Stop, Asterisk holds recordings %q and snoop channels %q; want none", r.stored, r.snoops)
	}
}

// Recordings an ivrd left running when it died (its snoop channels still
// in the application, their files growing in the spool) are hung up and
// deleted when the driver connects; another client's are left alone.
func TestRecordingLeftoversSwept(t *testing.T) {
	noLeaks(t)
	ast := recordingAsterisk(t, asterisktest.Options{Dialplan: `[tone-caller]
exten => s,1,Answer()
 same => n,Playtones(1000)
 same => n,Wait(30)
`})
	// The ivrd that dies: a bare ARI client of the application.
	ws := dialEvents(t, ast)
	started := make(chan string, 8)
	go func() {
		for {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			var ev struct {
				Type    string
				Channel struct{ ID string }
			}
			if json.Unmarshal(msg, &ev) == nil && ev.Type == "StasisStart" {
				started <- ev.Channel.ID
			}
		}
	}()
	// A caller, in the application.
	if err := ariDo(ast, http.MethodPost, "/channels/caller?endpoint="+url.QueryEscape("Local/s@tone-caller")+"&app="+ast.App, nil); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, started, "caller")
	const mine = "ivrd-rec-ivrd-caller-1-in" // as the driver names them
	for _, s := range []struct{ id, args string }{{mine, "ivrd-snoop"}, {"other-rec", "other"}} {
		q := url.Values{"spy": {"in"}, "app": {ast.App}, "appArgs": {s.args}, "snoopId": {s.id}}
		if err := ariDo(ast, http.MethodPost, "/channels/caller/snoop?"+q.Encode(), nil); err != nil {
			t.Fatal(err)
		}
		waitStarted(t, started, s.id)
		q = url.Values{"name": {s.id}, "format": {"wav"}, "terminateOn": {"none"}}
		if err := ariDo(ast, http.MethodPost, "/channels/"+s.id+"/record?"+q.Encode(), nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	ws.Close() // it dies

	startRecording(t, ast, func(context.Context, *recEnv, ivr.Call) {})
	deadline := time.Now().Add(5 * time.Second)
	var stored, snoops []string
	for time.Now().Before(deadline) {
		var err error
		if stored, snoops, err = leftovers(ast); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(stored, []string{"other-rec"}) && slices.Equal(snoops, []string{"other-rec"}) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after the driver connected: recordings %q, snoop channels %q; want only the other client's other-rec", stored, snoops)
}

func dialEvents(t *testing.T, ast *asterisktest.Asterisk) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig(ast.WSURL+"?app="+ast.App, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(ast.User+":"+ast.Password)))
	ws, err := cfg.DialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func waitStarted(t *testing.T, started <-chan string, id string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-started:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("channel %s never entered the application", id)
		}
	}
}

// The caller's choice reaches the dialplan on a dialplan handoff, in
// variables every channel the dialplan creates inherits: the agent's leg
// sees IVRD_RECORDING_CONSENT and IVRD_RECORD (and not the other IVRD_*
// variables, which are the caller channel's own), and the dialplan of
// asterisk/README.md records nothing unless IVRD_RECORD is 1.
func TestDialplanHandoffConsent(t *testing.T) {
	noLeaks(t)
	ast := recordingAsterisk(t, asterisktest.Options{Dialplan: `[ivrd-queue-rec]
exten => _[0-9a-zA-Z]!,1,NoOp(queue ${EXTEN}: consent ${IVRD_RECORDING_CONSENT}, record ${IVRD_RECORD})
 same => n,ExecIf($["${IVRD_RECORD}" = "1"]?MixMonitor(ivrd-${UNIQUEID}.wav,b))
 same => n,Dial(Local/agent@ivrd-agent,10)
 same => n,Hangup()

[ivrd-agent]
exten => agent,1,Set(GLOBAL(AGENT_CONSENT)=${IVRD_RECORDING_CONSENT})
 same => n,Set(GLOBAL(AGENT_RECORD)=${IVRD_RECORD})
 same => n,Set(GLOBAL(AGENT_QUEUE)=${IVRD_QUEUE})
 same => n,Set(GLOBAL(AGENT_SEEN)=yes)
 same => n,Answer()
 same => n,Wait(10)
 same => n,Hangup()
`})
	next := make(chan map[string]string, 1)
	handed := make(chan error, 1)
	startRecording(t, ast, func(ctx context.Context, e *recEnv, call ivr.Call) {
		vars := <-next
		if err := call.Answer(ctx); err != nil {
			handed <- err
			return
		}
		ok, err := call.(ivr.Transferer).TransferToQueue(ctx, ivr.Contact{ID: call.ID(), Queue: "support", Vars: vars})
		if err == nil && !ok {
			err = errors.New("the call was not handed to the dialplan")
		}
		handed <- err
	})
	global := func(name string) string {
		var v struct{ Value string }
		if err := ariDo(ast, http.MethodGet, "/asterisk/variable?variable="+name, &v); err != nil {
			t.Fatal(err)
		}
		return v.Value
	}
	tests := []struct {
		name    string
		consent string // "" : the flow did not ask
	}{
		{"accepted", "accepted"},
		{"refused", "refused"},
		{"not asked", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ariDo(ast, http.MethodPost, "/asterisk/variable?variable=AGENT_SEEN&value=no", nil); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"intent": "invoice"}
			if tt.consent != "" {
				vars[ivr.VarConsent] = tt.consent
			}
			next <- vars
			callWithTone(t, ast, "3900", 1500*time.Millisecond)
			if err := <-handed; err != nil {
				t.Fatal(err)
			}
			if seen := global("AGENT_SEEN"); seen != "yes" {
				t.Fatalf("the agent's leg never ran (AGENT_SEEN=%q)", seen)
			}
			if got := global("AGENT_CONSENT"); got != tt.consent {
				t.Errorf("the agent's leg sees IVRD_RECORDING_CONSENT=%q, want %q", got, tt.consent)
			}
			// No queue node asks for the agent conversation to be recorded.
			if got := global("AGENT_RECORD"); got != "0" {
				t.Errorf("the agent's leg sees IVRD_RECORD=%q, want 0", got)
			}
			if got := global("AGENT_QUEUE"); got != "" {
				t.Errorf("the agent's leg sees IVRD_QUEUE=%q: only the recording variables are inherited", got)
			}
			files, _ := filepath.Glob(ast.HostPath(ast.Dir + "/spool/monitor/*"))
			if len(files) != 0 {
				t.Errorf("the dialplan recorded %q", files)
			}
		})
	}
}

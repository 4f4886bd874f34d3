package asterisk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/routing"
)

// agentEnv is a driver on a test Asterisk whose handler is the test's own;
// every ARI request the driver sends is noted.
type agentEnv struct {
	ast  *asterisktest.Asterisk
	drv  *asterisk.Driver
	reqs *requestLog
}

// ariRequest is one request the driver sent.
type ariRequest struct {
	at     time.Time
	method string
	path   string // below the ARI root
	query  url.Values
}

type requestLog struct {
	mu   sync.Mutex
	list []ariRequest
}

func (l *requestLog) all() []ariRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// loggingTransport notes the requests going through it.
type loggingTransport struct {
	base http.RoundTripper
	root string // the ARI root's path
	log  *requestLog
}

func (t loggingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.log.mu.Lock()
	t.log.list = append(t.log.list, ariRequest{
		at: time.Now(), method: r.Method, path: strings.TrimPrefix(r.URL.Path, t.root), query: r.URL.Query(),
	})
	t.log.mu.Unlock()
	return t.base.RoundTrip(r)
}

// startAgents runs a driver serving ast with handler.
func startAgents(t *testing.T, ast *asterisktest.Asterisk, handler func(context.Context, ivr.Call)) *agentEnv {
	t.Helper()
	return startAgentsWith(t, ast, func(*asterisk.Config) {}, handler)
}

// startAgentsWith is startAgents with opt applied to the configuration.
func startAgentsWith(t *testing.T, ast *asterisktest.Asterisk, opt func(*asterisk.Config), handler func(context.Context, ivr.Call)) *agentEnv {
	t.Helper()
	e := &agentEnv{ast: ast, reqs: &requestLog{}}
	root, err := url.Parse(ast.ARIURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	ctx, cancel := context.WithCancel(context.Background())
	cfg := asterisk.Config{
		URL: ast.ARIURL, WSURL: ast.WSURL, User: ast.User, Password: ast.Password, App: ast.App,
		HTTPClient: &http.Client{Transport: loggingTransport{base: tr, root: root.Path, log: e.reqs}},
		Backoff:    asterisk.Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Handler:    handler,
	}
	opt(&cfg)
	drv, err := asterisk.New(cfg)
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

// peer is a sipp or baresip process the test started.
type peer struct {
	name   string
	dir    string
	stdin  io.WriteCloser
	output *syncOutput
	exited chan struct{}
	err    error // set before exited is closed
}

type syncOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *syncOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *syncOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// run starts cmd as a peer, killed at the end of the test.
func run(t *testing.T, name string, cmd *exec.Cmd) *peer {
	t.Helper()
	p := &peer{name: name, dir: cmd.Dir, output: &syncOutput{}, exited: make(chan struct{})}
	cmd.Stdout = p.output
	cmd.Stderr = p.output
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%s: %w\n%s", name, err, p.output.String())
		}
		p.err = err
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output.String())
		}
	})
	return p
}

// wait waits for the peer to exit and returns its failure, if any.
func (p *peer) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

// waitBound waits until something listens on the UDP port: the peer is
// ready for calls.
func waitBound(t *testing.T, p *peer, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return // taken: the peer has it
		}
		c.Close()
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v", p.name, p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s never listened on udp port %d", p.name, port)
}

// sippAgent starts an agent's phone played by a sipp scenario of
// testdata/sipp, with STATUS replaced by status if given, and returns its
// URI.
func sippAgent(t *testing.T, scenario, status string) (string, *peer) {
	t.Helper()
	xml, err := os.ReadFile(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sf := filepath.Join(dir, scenario)
	if err := os.WriteFile(sf, []byte(strings.ReplaceAll(string(xml), "STATUS", status)), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, "udp")
	cmd := exec.Command("sipp", "-sf", sf, "-m", "1", "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-timeout", "30s", "-timeout_error", "-nostdin")
	cmd.Dir = dir
	p := run(t, "sipp agent "+scenario, cmd)
	waitBound(t, p, port)
	return fmt.Sprintf("sip:alice@127.0.0.1:%d", port), p
}

// baresipAgent starts baresip answering every call at once and sending
// samples (8 kHz) as its audio, and returns its URI. What it receives is
// written to dump-*-dec.wav in its folder.
func baresipAgent(t *testing.T, samples []int16) (string, *peer) {
	t.Helper()
	port := freePort(t, "udp")
	p := baresipPhone(t, "alice", port, samples)
	return fmt.Sprintf("sip:alice@127.0.0.1:%d", port), p
}

// heard returns what baresip received during its call.
func (p *peer) heard(t *testing.T) []int16 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "dump-*-dec.wav"))
	if len(files) != 1 {
		t.Fatalf("baresip wrote %d files of received audio, want 1: %v", len(files), files)
	}
	s, err := media.LoadWAV(files[0])
	if err != nil {
		t.Fatalf("read what baresip heard: %v", err)
	}
	return s
}

// sippCaller calls number through ast with a sipp scenario sending a
// 1000 Hz tone from the answer on; extra are more sipp arguments.
func sippCaller(t *testing.T, ast *asterisktest.Asterisk, scenario, number string, extra ...string) *peer {
	t.Helper()
	dir := t.TempDir()
	if err := writeTonePCAP(filepath.Join(dir, "tone.pcap"), tone(callerHz, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-sf", sf, "-m", "1", "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-s", number, "-timeout", "40s", "-timeout_error", "-nostdin"}, extra...)
	args = append(args, ast.SIPAddr)
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir // the scenario plays tone.pcap from its working folder
	return run(t, "sipp caller "+scenario, cmd)
}

// channelsLike lists the ids of Asterisk's channels starting with prefix.
func channelsLike(t *testing.T, ast *asterisktest.Asterisk, prefix string) []string {
	t.Helper()
	var list []struct{ ID string }
	if err := ariDo(ast, http.MethodGet, "/channels", &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		if strings.HasPrefix(c.ID, prefix) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// bridgesNamed lists Asterisk's bridges named name.
func bridgesNamed(t *testing.T, ast *asterisktest.Asterisk, name string) []ariBridge {
	t.Helper()
	var list []ariBridge
	if err := ariDo(ast, http.MethodGet, "/bridges", &list); err != nil {
		t.Fatal(err)
	}
	var out []ariBridge
	for _, b := range list {
		if b.Name == name {
			out = append(out, b)
		}
	}
	return out
}

// waitNone waits until Asterisk has no agent's channel and no agent's
// bridge of the application left.
func waitNone(t *testing.T, ast *asterisktest.Asterisk) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		chans := channelsLike(t, ast, "ivrd-agent-")
		bridges := bridgesNamed(t, ast, "ivrd-agent:"+ast.App)
		if len(chans) == 0 && len(bridges) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Asterisk still holds agents' channels %q and bridges %+v", chans, bridges)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type rtpStats struct {
	TxCount int `json:"txcount"`
	RxCount int `json:"rxcount"`
}

func rtpStatsOf(t *testing.T, ast *asterisktest.Asterisk, channel string) rtpStats {
	t.Helper()
	var s rtpStats
	if err := ariDo(ast, http.MethodGet, "/channels/"+channel+"/rtp_statistics", &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// bridgeRun is what the handler of TestAgentBridged saw.
type bridgeRun struct {
	err                 error
	callerID            string
	recStart            time.Time
	bridgeAt, bridgeEnd time.Time
	bridgeErr           error
	answeredIn          time.Duration
	legErr              error
	legDoneAfterBridge  bool
}

// bridgedSpan is the part of a recording of n samples made while the
// caller talked to the agent: from 300 ms after the bridge to 200 ms
// before its end. A loaded Asterisk's snoop channels skip frames they were
// late for, which shortens the recording: the span then ends 200 ms before
// the recording does (it was stopped as the bridge ended).
func (r bridgeRun) bridgedSpan(t *testing.T, n int) (from, to int) {
	t.Helper()
	wall := r.bridgeEnd.Sub(r.recStart)
	t.Logf("recording of %v for %v of wall time", time.Duration(n)*time.Second/8000, wall)
	from = at(r.bridgeAt.Sub(r.recStart) + 300*time.Millisecond)
	to = min(at(wall-200*time.Millisecond), n-at(200*time.Millisecond))
	if to-from < at(2*time.Second) {
		t.Fatalf("recording of %d samples; the bridged span [%d, %d) is shorter than 2 s", n, from, to)
	}
	return from, to
}

// A caller (sipp, 1000 Hz) is put through to an agent's phone (baresip
// auto-answering, 440 Hz) rung by the driver: the phone shows the caller's
// number, both channels are in one mixing bridge, RTP flows both ways on
// both legs for more than 3 s and each side hears the other's tone; the
// recording of the call has the caller on the left and the agent on the
// right. The agent hangs up: Bridge returns nil, the handler hangs up the
// caller, whom the driver never hung up on connect, and nothing is left
// in Asterisk.
func TestAgentBridged(t *testing.T) {
	noLeaks(t)
	ast := recordingAsterisk(t, asterisktest.Options{})
	agentURI, agent := baresipAgent(t, tone(agentHz, 30*time.Second))
	sink := &memSink{}
	bridging := make(chan string, 1)
	runs := make(chan bridgeRun, 1)
	e := startAgents(t, ast, func(ctx context.Context, call ivr.Call) {
		r := bridgeRun{callerID: call.ID()}
		defer func() { runs <- r }()
		if err := call.Answer(ctx); err != nil {
			r.err = err
			return
		}
		rec, err := call.(ivr.Recordable).Record(ctx, sink)
		if err != nil {
			r.err = err
			return
		}
		r.recStart = time.Now()
		defer func() { r.err = errors.Join(r.err, rec.Stop(context.Background())) }()
		asked := time.Now()
		leg, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{
			Offer:   ivr.Offer{ID: "offer-1", Agent: "alice", Phone: agentURI},
			Contact: ivr.Contact{Caller: call.Caller()},
			Timeout: 10 * time.Second,
		})
		if err != nil {
			r.err = err
			return
		}
		select {
		case <-leg.Answered():
			r.answeredIn = time.Since(asked)
		case <-leg.Done():
			r.err = fmt.Errorf("the agent's phone did not answer: %w", leg.Err())
			return
		case <-time.After(10 * time.Second):
			r.err = errors.New("the agent's phone did not answer within 10 s")
			return
		}
		bridging <- call.ID()
		r.bridgeAt = time.Now()
		r.bridgeErr = call.(ivr.Bridger).Bridge(ctx, leg)
		r.bridgeEnd = time.Now()
		r.legDoneAfterBridge = closed(leg.Done())
		r.legErr = leg.Err()
		if err := rec.Stop(ctx); err != nil {
			r.err = err
		}
		// The engine hangs up the caller once the agent hung up.
		if err := call.Hangup(ctx, "agent hung up"); err != nil {
			r.err = err
		}
	})
	caller := sippCaller(t, ast, "uac_tone_wait_bye.xml", "3900")

	var callerID string
	select {
	case callerID = <-bridging:
	case r := <-runs:
		t.Fatalf("the handler ended before bridging: %v", r.err)
	case <-time.After(15 * time.Second):
		t.Fatal("the call never reached the bridge")
	}
	// The bridge: one mixing bridge of the application with both channels.
	var agentID string
	var bridge ariBridge
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids := channelsLike(t, ast, "ivrd-agent-"+ast.App+"-")
		bs := bridgesNamed(t, ast, "ivrd-agent:"+ast.App)
		if len(ids) == 1 && len(bs) == 1 && len(bs[0].Channels) == 2 {
			agentID, bridge = ids[0], bs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents' channels %q, bridges %+v; want one channel and one bridge of both", ids, bs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if bridge.Type != "mixing" || !slices.Contains(bridge.Channels, callerID) || !slices.Contains(bridge.Channels, agentID) {
		t.Errorf("bridge %+v, want a mixing bridge of %s and %s", bridge, callerID, agentID)
	}
	var agentChan struct {
		Caller struct{ Number string }
		State  string
	}
	if err := ariDo(ast, http.MethodGet, "/channels/"+agentID, &agentChan); err != nil {
		t.Fatal(err)
	}
	if agentChan.Caller.Number != "5551234" || agentChan.State != "Up" {
		t.Errorf("agent's channel shows caller %q in state %s; want the caller's number 5551234, Up", agentChan.Caller.Number, agentChan.State)
	}

	// Audio both ways for 3.5 s, counted on both legs.
	before := [2]rtpStats{rtpStatsOf(t, ast, callerID), rtpStatsOf(t, ast, agentID)}
	const talk = 4 * time.Second
	time.Sleep(talk)
	after := [2]rtpStats{rtpStatsOf(t, ast, callerID), rtpStatsOf(t, ast, agentID)}
	const want = 175 // 3.5 s of 20 ms packets
	for i, leg := range []string{"caller", "agent"} {
		rx, tx := after[i].RxCount-before[i].RxCount, after[i].TxCount-before[i].TxCount
		t.Logf("%s leg over %v: %d RTP packets received, %d sent", leg, talk, rx, tx)
		if rx < want || tx < want {
			t.Errorf("%s leg: %d RTP packets received and %d sent over %v; want at least %d each way", leg, rx, tx, talk, want)
		}
	}

	// The agent hangs up.
	if _, err := io.WriteString(agent.stdin, "b"); err != nil {
		t.Fatal(err)
	}
	var r bridgeRun
	select {
	case r = <-runs:
	case <-time.After(10 * time.Second):
		t.Fatal("Bridge did not return after the agent hung up")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.bridgeErr != nil {
		t.Errorf("Bridge = %v; want nil once the agent hung up", r.bridgeErr)
	}
	if !r.legDoneAfterBridge || r.legErr != nil {
		t.Errorf("after Bridge: leg done %v, Err %v; want done, no error", r.legDoneAfterBridge, r.legErr)
	}
	t.Logf("agent answered %v after the dial; bridged for %v", r.answeredIn, r.bridgeEnd.Sub(r.bridgeAt))
	// The caller's call ends from ivrd: sipp gets a BYE.
	if err := caller.wait(t, 10*time.Second); err != nil {
		t.Errorf("caller: %v", err)
	}
	_, _ = io.WriteString(agent.stdin, "q")
	if err := agent.wait(t, 5*time.Second); err != nil {
		t.Logf("baresip: %v", err)
	}

	// Never a hang-up of the caller before the conversation ended.
	for _, q := range e.reqs.all() {
		if q.method == http.MethodDelete && q.path == "/channels/"+callerID && q.at.Before(r.bridgeEnd) {
			t.Errorf("the driver hung up the caller at %v, before the agent hung up at %v", q.at, r.bridgeEnd)
		}
	}
	waitNone(t, ast)

	// Each heard the other: the recording has the caller's tone on the
	// left and the agent's on the right while bridged.
	left, right, _, bad := sink.snapshot()
	if bad > 0 {
		t.Errorf("%d frames were not 160 samples on both channels", bad)
	}
	from, to := r.bridgedSpan(t, len(left))
	checkTone(t, "recording, caller channel while bridged", left[from:to], callerHz, agentHz)
	checkTone(t, "recording, agent channel while bridged", right[from:to], agentHz, callerHz)
	heard := agent.heard(t)
	if len(heard) < at(3*time.Second) {
		t.Fatalf("baresip heard %d samples, want more than 3 s", len(heard))
	}
	checkTone(t, "what the agent heard", heard[at(time.Second):at(3*time.Second)], callerHz, agentHz)
}

// notTaken is what the handler of TestAgentNotTaken saw.
type notTaken struct {
	err      error // handler failure
	legErr   error
	answered bool
	rang     time.Duration
}

// An agent's phone that is busy, declines, is unavailable or rings out
// gives the engine the matching error, and leaves nothing in Asterisk.
func TestAgentNotTaken(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	type dial struct {
		offer   ivr.Offer
		timeout time.Duration
	}
	next := make(chan dial, 1)
	results := make(chan notTaken, 1)
	startAgents(t, ast, func(ctx context.Context, call ivr.Call) {
		var r notTaken
		defer func() { results <- r }()
		d := <-next
		if err := call.Answer(ctx); err != nil {
			r.err = err
			return
		}
		start := time.Now()
		leg, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{Offer: d.offer, Timeout: d.timeout})
		if err != nil {
			r.err = err
			return
		}
		select {
		case <-leg.Done():
			r.rang = time.Since(start)
			r.answered = closed(leg.Answered())
			r.legErr = leg.Err()
		case <-time.After(15 * time.Second):
			r.err = errors.New("the agent's leg never ended")
			_ = leg.Hangup(context.Background(), "test over")
		}
		_ = call.Hangup(ctx, "test over")
	})
	tests := []struct {
		name     string
		scenario string
		status   string
		timeout  time.Duration
		want     error
	}{
		{"busy", "uas_reject.xml", "486 Busy Here", 10 * time.Second, ivr.ErrAgentBusy},
		{"busy everywhere", "uas_reject.xml", "600 Busy Everywhere", 10 * time.Second, ivr.ErrAgentBusy},
		{"declined", "uas_reject.xml", "603 Decline", 10 * time.Second, ivr.ErrAgentDeclined},
		{"request timeout", "uas_reject.xml", "408 Request Timeout", 10 * time.Second, ivr.ErrAgentNoAnswer},
		{"unavailable", "uas_reject.xml", "480 Temporarily Unavailable", 10 * time.Second, ivr.ErrAgentNoAnswer},
		{"no answer", "uas_ring_cancel.xml", "", 1500 * time.Millisecond, ivr.ErrAgentNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri, agent := sippAgent(t, tt.scenario, tt.status)
			next <- dial{offer: ivr.Offer{ID: "offer-" + tt.name, Agent: "alice", Phone: uri}, timeout: tt.timeout}
			caller := sippCaller(t, ast, "uac_tone_wait_bye.xml", "3900")
			var r notTaken
			select {
			case r = <-results:
			case <-time.After(20 * time.Second):
				t.Fatal("the handler never finished")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			t.Logf("rang %v: %v", r.rang, r.legErr)
			if r.answered || !errors.Is(r.legErr, tt.want) {
				t.Errorf("answered %v, Err %v; want %v", r.answered, r.legErr, tt.want)
			}
			if tt.scenario == "uas_ring_cancel.xml" && (r.rang < tt.timeout || r.rang > tt.timeout+time.Second) {
				t.Errorf("rang %v, want the %v timeout", r.rang, tt.timeout)
			}
			if err := agent.wait(t, 5*time.Second); err != nil {
				t.Errorf("agent: %v", err)
			}
			if err := caller.wait(t, 5*time.Second); err != nil {
				t.Errorf("caller: %v", err)
			}
			waitNone(t, ast)
		})
	}
}

// A caller hanging up while the agent's phone rings: the driver cancels
// the phone (the agent gets a CANCEL) although the handler left the leg
// alone, and the leg ends as cancelled. The dial string comes from the
// agent's configuration (Offer.Dial).
func TestAgentCancelledWhenCallerHangsUp(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	uri, agent := sippAgent(t, "uas_ring_cancel.xml", "")
	legs := make(chan ivr.Ringing, 1)
	startAgents(t, ast, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			t.Error(err)
			return
		}
		leg, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{
			Offer:   ivr.Offer{ID: "offer-1", Agent: "alice", Dial: "PJSIP/agents/" + uri},
			Timeout: 20 * time.Second,
		})
		if err != nil {
			t.Error(err)
			return
		}
		legs <- leg
		<-ctx.Done() // the caller hangs up; the leg is left to the driver
	})
	caller := sippCaller(t, ast, "uac_tone_bye.xml", "3900", "-d", "1500")
	var leg ivr.Ringing
	select {
	case leg = <-legs:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent was never rung")
	}
	if err := caller.wait(t, 10*time.Second); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := agent.wait(t, 5*time.Second); err != nil {
		t.Errorf("the agent's phone was not cancelled: %v", err)
	}
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the agent's leg is not done")
	}
	if err := leg.Err(); !errors.Is(err, asterisk.ErrAgentCancelled) || closed(leg.Answered()) {
		t.Errorf("Err %v, answered %v; want cancelled, not answered", err, closed(leg.Answered()))
	}
	waitNone(t, ast)
}

// An agent's phone left ringing, an ExternalMedia channel and an agents'
// bridge left by an ivrd that died are hung up and destroyed when the
// driver connects; another client's bridge is left alone.
func TestStaleAgentsSwept(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	uri, agent := sippAgent(t, "uas_ring_cancel.xml", "")
	ws := dialEvents(t, ast) // the ivrd that dies
	q := url.Values{"endpoint": {"PJSIP/agents/" + uri}, "app": {ast.App}, "appArgs": {"ivrd-agent"}, "timeout": {"30"}}
	if err := ariDo(ast, http.MethodPost, "/channels/ivrd-agent-"+ast.App+"-stale?"+q.Encode(), nil); err != nil {
		t.Fatal(err)
	}
	xm := url.Values{"channelId": {"ivrd-xm-" + ast.App + "-stale"}, "app": {ast.App}, "format": {"ulaw"},
		"external_host": {fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp"))}}
	if err := ariDo(ast, http.MethodPost, "/channels/externalMedia?"+xm.Encode(), nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ id, name string }{{"stale-bridge", "ivrd-agent:" + ast.App}, {"other-bridge", "other"}} {
		if err := ariDo(ast, http.MethodPost, "/bridges/"+b.id+"?type=mixing&name="+url.QueryEscape(b.name), nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the phone rings
	ws.Close()

	startAgents(t, ast, func(context.Context, ivr.Call) {})
	if err := agent.wait(t, 5*time.Second); err != nil {
		t.Errorf("the stale agent's phone was not cancelled: %v", err)
	}
	waitNone(t, ast)
	if ids := channelsLike(t, ast, "ivrd-xm-"); len(ids) != 0 {
		t.Errorf("external media channels left: %q", ids)
	}
	if bs := bridgesNamed(t, ast, "other"); len(bs) != 1 {
		t.Errorf("another client's bridge: %+v; want it left alone", bs)
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// portLeg is an agent's leg that is a media port, as a browser's WebRTC
// leg is: a session of ivrd's media endpoint whose peer is the test's RTP
// socket, where the browser would be.
type portLeg struct {
	*media.Session
	codec media.Codec
}

func (l portLeg) Hangup(context.Context, string) error { return l.Close() }

// Codec is the codec negotiated with the agent's end, as a WebRTC leg
// says it.
func (l portLeg) Codec() media.Codec { return l.codec }

// rtpPeer is the agent's end of a portLeg: it sends a tone as 20 ms G.711
// packets of codec and keeps what it receives.
type rtpPeer struct {
	conn   *net.UDPConn
	codec  media.Codec
	encode func(dst []byte, src []int16) int

	mu  sync.Mutex
	got []int16
	rx  int
}

func newRTPPeer(t *testing.T, codec media.Codec) *rtpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{conn: c, codec: codec}
	encode, decode := media.EncodeUlaw, media.DecodeUlaw
	if codec == media.CodecPCMA {
		encode, decode = media.EncodeAlaw, media.DecodeAlaw
	}
	p.encode = encode
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		pcm := make([]int16, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			h, payload, err := media.ParseRTP(buf[:n])
			if err != nil || h.PayloadType != codec.PayloadType {
				continue
			}
			k := decode(pcm, payload)
			p.mu.Lock()
			p.got = append(p.got, pcm[:k]...)
			p.rx++
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *rtpPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *rtpPeer) received() (int, []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rx, slices.Clone(p.got)
}

// send sends samples to dst in real time until stop is closed; it returns
// the number of packets sent.
func (p *rtpPeer) send(dst netip.AddrPort, samples []int16, stop <-chan struct{}) int {
	payload := make([]byte, 160)
	pkt := make([]byte, media.RTPHeaderSize+160)
	start := time.Now()
	for i := 0; (i+1)*160 <= len(samples); i++ {
		select {
		case <-stop:
			return i
		case <-time.After(time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond))):
		}
		p.encode(payload, samples[i*160:(i+1)*160])
		h := media.RTPHeader{PayloadType: p.codec.PayloadType, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 0xa9e7}
		if _, err := h.MarshalTo(pkt); err != nil {
			return i
		}
		copy(pkt[media.RTPHeaderSize:], payload)
		if _, err := p.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
			return i
		}
	}
	return len(samples) / 160
}

// A caller (sipp, 1000 Hz) is put through to an agent whose leg is a media
// port (440 Hz from the agent's side), as a browser agent's WebRTC leg is:
// the caller and an ExternalMedia channel share a mixing bridge, ivrd
// relays between that channel's RTP and the port; audio flows both ways
// for more than 3 s and each side hears the other; the recording has the
// caller left and the agent right. The agent hangs up: Bridge returns
// nil, the caller is hung up by the handler only, and neither the
// ExternalMedia channel, nor the bridge, nor ivrd's RTP session is left.
func TestAgentBridgedMediaPort(t *testing.T) {
	for _, codec := range []media.Codec{media.CodecPCMU, media.CodecPCMA} {
		t.Run(codec.Name, func(t *testing.T) { testAgentBridgedMediaPort(t, codec) })
	}
}

func testAgentBridgedMediaPort(t *testing.T, codec media.Codec) {
	noLeaks(t)
	ast := recordingAsterisk(t, asterisktest.Options{})
	ep, err := media.NewEndpoint(media.EndpointConfig{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 41000, PortMax: 41999})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	agent := newRTPPeer(t, codec)
	s, err := ep.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(agent.addr(), codec, 101); err != nil {
		t.Fatal(err)
	}
	leg := portLeg{Session: s, codec: codec}
	stopSending := make(chan struct{})
	sent := make(chan int, 1)
	go func() { sent <- agent.send(s.LocalAddr(), tone(agentHz, 30*time.Second), stopSending) }()
	defer func() { close(stopSending); <-sent }()
	bridgeToPort(t, ast, ep, leg, codec, agent.received)
}

// bridgeToPort runs a call from sipp (1000 Hz) through ast, bridged by a
// driver with media endpoint ep to leg, a media port of codec whose agent
// sends agentHz and keeps what it hears (received), and checks the
// bridge, the audio both ways, the recording, the agent's hang-up
// (leg.Hangup) and that nothing is left.
func bridgeToPort(t *testing.T, ast *asterisktest.Asterisk, ep *media.Endpoint, leg ivr.Leg, codec media.Codec, received func() (int, []int16)) {
	t.Helper()
	sink := &memSink{}
	bridging := make(chan string, 1)
	runs := make(chan bridgeRun, 1)
	e := startAgentsWith(t, ast, func(c *asterisk.Config) { c.Media = ep }, func(ctx context.Context, call ivr.Call) {
		r := bridgeRun{callerID: call.ID()}
		defer func() { runs <- r }()
		if err := call.Answer(ctx); err != nil {
			r.err = err
			return
		}
		rec, err := call.(ivr.Recordable).Record(ctx, sink)
		if err != nil {
			r.err = err
			return
		}
		r.recStart = time.Now()
		defer func() { r.err = errors.Join(r.err, rec.Stop(context.Background())) }()
		bridging <- call.ID()
		r.bridgeAt = time.Now()
		r.bridgeErr = call.(ivr.Bridger).Bridge(ctx, leg)
		r.bridgeEnd = time.Now()
		if err := rec.Stop(ctx); err != nil {
			r.err = err
		}
		if err := call.Hangup(ctx, "agent hung up"); err != nil {
			r.err = err
		}
	})
	caller := sippCaller(t, ast, "uac_tone_wait_bye.xml", "3900")

	var callerID string
	select {
	case callerID = <-bridging:
	case r := <-runs:
		t.Fatalf("the handler ended before bridging: %v", r.err)
	case <-time.After(15 * time.Second):
		t.Fatal("the call never reached the bridge")
	}
	var xmID string
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids := channelsLike(t, ast, "ivrd-xm-"+ast.App+"-")
		bs := bridgesNamed(t, ast, "ivrd-agent:"+ast.App)
		if len(ids) == 1 && len(bs) == 1 && len(bs[0].Channels) == 2 {
			xmID = ids[0]
			if bs[0].Type != "mixing" || !slices.Contains(bs[0].Channels, callerID) || !slices.Contains(bs[0].Channels, xmID) {
				t.Errorf("bridge %+v, want a mixing bridge of %s and %s", bs[0], callerID, xmID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("external media channels %q, bridges %+v; want one channel and one bridge of it and the caller", ids, bs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.drv.ActiveCalls(); n != 1 {
		t.Errorf("the driver serves %d calls; the external media channel is not one", n)
	}
	// The ExternalMedia channel speaks the agent's codec: no transcoding.
	wantFormat := map[string]string{"PCMU": "ulaw", "PCMA": "alaw"}[codec.Name]
	if f, err := getVar(ast, xmID, "CHANNEL(audionativeformat)"); err != nil || strings.Trim(f, "()") != wantFormat {
		t.Errorf("external media channel format %q (%v), want %s", f, err, wantFormat)
	}

	callerBefore := rtpStatsOf(t, ast, callerID)
	rxBefore, _ := received()
	const talk = 4 * time.Second
	time.Sleep(talk)
	callerAfter := rtpStatsOf(t, ast, callerID)
	rxAfter, _ := received()
	const want = 175
	rx, tx := callerAfter.RxCount-callerBefore.RxCount, callerAfter.TxCount-callerBefore.TxCount
	t.Logf("over %v: caller leg %d RTP packets received, %d sent; the agent's end received %d", talk, rx, tx, rxAfter-rxBefore)
	if rx < want || tx < want || rxAfter-rxBefore < want {
		t.Errorf("over %v: caller leg %d received, %d sent, agent's end %d received; want at least %d each", talk, rx, tx, rxAfter-rxBefore, want)
	}

	// The agent hangs up.
	_ = leg.Hangup(context.Background(), "agent hung up")
	var r bridgeRun
	select {
	case r = <-runs:
	case <-time.After(10 * time.Second):
		t.Fatal("Bridge did not return after the agent hung up")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.bridgeErr != nil {
		t.Errorf("Bridge = %v; want nil once the agent hung up", r.bridgeErr)
	}
	if err := caller.wait(t, 10*time.Second); err != nil {
		t.Errorf("caller: %v", err)
	}
	for _, q := range e.reqs.all() {
		if q.method == http.MethodDelete && q.path == "/channels/"+callerID && q.at.Before(r.bridgeEnd) {
			t.Errorf("the driver hung up the caller at %v, before the agent hung up at %v", q.at, r.bridgeEnd)
		}
	}
	waitNone(t, ast)
	if ids := channelsLike(t, ast, "ivrd-xm-"); len(ids) != 0 {
		t.Errorf("external media channels left: %q", ids)
	}
	if n := ep.Sessions(); n != 0 {
		t.Errorf("%d RTP sessions left open", n)
	}

	left, right, _, bad := sink.snapshot()
	if bad > 0 {
		t.Errorf("%d frames were not 160 samples on both channels", bad)
	}
	from, to := r.bridgedSpan(t, len(left))
	checkTone(t, "recording, caller channel while bridged", left[from:to], callerHz, agentHz)
	checkTone(t, "recording, agent channel while bridged", right[from:to], agentHz, callerHz)
	_, heard := received()
	if len(heard) < at(3*time.Second) {
		t.Fatalf("the agent's end heard %d samples, want more than 3 s", len(heard))
	}
	checkTone(t, "what the agent heard", heard[at(time.Second):at(3*time.Second)], callerHz, agentHz)
}

// The caller hanging up while bridged: Bridge returns the cause of the
// call's context (the caller's hang-up), and the agent, whom the handler
// leaves alone, gets a BYE from the driver; nothing is left in Asterisk.
func TestAgentHungUpWhenCallerLeaves(t *testing.T) {
	noLeaks(t)
	ast := asterisktest.Start(t, asterisktest.Options{})
	uri, agent := sippAgent(t, "uas_answer_wait_bye.xml", "")
	type result struct {
		err, bridged error
		leg          ivr.Ringing
	}
	results := make(chan result, 1)
	startAgents(t, ast, func(ctx context.Context, call ivr.Call) {
		var r result
		defer func() { results <- r }()
		if r.err = call.Answer(ctx); r.err != nil {
			return
		}
		leg, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{Offer: ivr.Offer{ID: "o1", Agent: "alice", Phone: uri}, Timeout: 10 * time.Second})
		if err != nil {
			r.err = err
			return
		}
		r.leg = leg
		select {
		case <-leg.Answered():
		case <-leg.Done():
			r.err = fmt.Errorf("not answered: %w", leg.Err())
			return
		}
		r.bridged = call.(ivr.Bridger).Bridge(ctx, leg)
	})
	caller := sippCaller(t, ast, "uac_tone_bye.xml", "3900", "-d", "2500")
	var r result
	select {
	case r = <-results:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler never finished")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !errors.Is(r.bridged, ivr.ErrCallerHangup) {
		t.Errorf("Bridge = %v, want the caller's hang-up", r.bridged)
	}
	if err := caller.wait(t, 5*time.Second); err != nil {
		t.Errorf("caller: %v", err)
	}
	if err := agent.wait(t, 5*time.Second); err != nil {
		t.Errorf("the agent was not hung up: %v", err)
	}
	select {
	case <-r.leg.Done():
	case <-time.After(5 * time.Second):
		t.Error("the agent's leg is not done")
	}
	if err := r.leg.Err(); err != nil {
		t.Errorf("Err of an answered leg = %v, want nil", err)
	}
	waitNone(t, ast)
}

// The whole path under Asterisk, engine and routing included: a caller
// pressing 1 waits in ivrd's queue sales; the queue offers the call to
// alice, whose phone (baresip, auto-answering) the driver rings; she
// answers, the two talk in a mixing bridge, and she hangs up after 3.5 s.
// ivrd then hangs up the caller, and the call record says the call was
// connected to alice, ended by the agent, with its talk time.
func TestQueuedCallReachesAgentPhone(t *testing.T) {
	uri, agent := baresipAgent(t, tone(agentHz, 30*time.Second))
	rc := routing.DefaultConfig()
	rc.Agents = []routing.AgentConfig{{Name: "alice", Phone: uri, Skills: map[string]int{"en": 5}, Queues: []string{"sales"}}}
	e := startEnv(t, envConfig{routing: &rc})
	if err := e.queues.SetAgentState(context.Background(), "alice", routing.AgentAvailable); err != nil {
		t.Fatal(err)
	}
	caller := sippCaller(t, e.ast, "uac_key1_tone_wait_bye.xml", "3900")

	var agentID string
	deadline := time.Now().Add(15 * time.Second)
	for {
		ids := channelsLike(t, e.ast, "ivrd-agent-"+e.ast.App+"-")
		bs := bridgesNamed(t, e.ast, "ivrd-agent:"+e.ast.App)
		if len(ids) == 1 && len(bs) == 1 && len(bs[0].Channels) == 2 && slices.Contains(bs[0].Channels, ids[0]) {
			agentID = ids[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents' channels %q, bridges %+v; want alice's phone bridged to the caller", ids, bs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := rtpStatsOf(t, e.ast, agentID)
	const talk = 3500 * time.Millisecond
	time.Sleep(talk)
	after := rtpStatsOf(t, e.ast, agentID)
	if rx, tx := after.RxCount-before.RxCount, after.TxCount-before.TxCount; rx < 150 || tx < 150 {
		t.Errorf("agent's leg over %v: %d RTP packets received, %d sent; want at least 150 each way", talk, rx, tx)
	}
	if _, err := io.WriteString(agent.stdin, "b"); err != nil {
		t.Fatal(err)
	}
	if err := caller.wait(t, 10*time.Second); err != nil {
		t.Errorf("caller: %v", err)
	}
	rec := e.lastCall(t, ivr.OutcomeConnected)
	t.Logf("call record: agent %q, ended by %q, queued after %v, waited %v, talked %v",
		rec.Agent, rec.EndedBy, rec.QueuedAt.Sub(rec.StartedAt), rec.QueueWait, rec.Talk)
	if rec.Agent != "alice" || rec.EndedBy != ivr.EndedByAgent || rec.ConnectedAt == nil || rec.Talk < talk {
		t.Errorf("call record: agent %q, ended by %q, connected at %v, talk %v; want alice, agent, a time, at least %v",
			rec.Agent, rec.EndedBy, rec.ConnectedAt, rec.Talk, talk)
	}
	_, _ = io.WriteString(agent.stdin, "q")
	_ = agent.wait(t, 5*time.Second)
	waitNone(t, e.ast)
	heard := agent.heard(t)
	if len(heard) < at(3*time.Second) {
		t.Fatalf("alice heard %d samples, want more than 3 s", len(heard))
	}
	checkTone(t, "what alice heard", heard[at(time.Second):at(3*time.Second)], callerHz, agentHz)
}

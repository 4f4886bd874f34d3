package asterisk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/loader"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
	"github.com/ivrd/ivrd/web"
)

// env is ivrd serving one test Asterisk: flows of testdata/flows, a queue
// and call log on a temporary SQLite file, prompts over HTTP.
type env struct {
	ast    *asterisktest.Asterisk
	drv    *asterisk.Driver
	calls  *store.CallLog
	queues *routing.Queues

	mu        sync.Mutex
	latencies []time.Duration // key received -> playback finished
	logf      func(format string, args ...any)
}

// promptFiles serves the prompts of the loaded flows by id.
type promptFiles struct{ lib *loader.Library }

func (p promptFiles) PromptPath(id string) (string, bool) {
	for _, f := range p.lib.Current().Flows {
		for _, n := range f.Nodes {
			if n.Menu == nil {
				continue
			}
			for _, part := range n.Menu.Prompt {
				if a := part.Audio; a != nil && a.ID == id && a.Path != "" {
					return a.Path, true
				}
			}
		}
	}
	return "", false
}

func start(t *testing.T, handoff map[string]asterisk.HandoffConfig, measure bool, opts ...func(*asterisk.Config)) *env {
	t.Helper()
	return startEnv(t, envConfig{handoff: handoff, measure: measure, ari: opts})
}

// envConfig tunes startEnv.
type envConfig struct {
	handoff map[string]asterisk.HandoffConfig
	measure bool
	routing *routing.Config // nil: no agents
	ari     []func(*asterisk.Config)
}

func startEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	handoff, measure, opts := cfg.handoff, cfg.measure, cfg.ari
	ast := asterisktest.Start(t, asterisktest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()

	// The menu prompt: 3 s of a 440 Hz tone, long enough to press a key
	// during it.
	prompts := filepath.Join(dir, "prompts")
	if err := os.MkdirAll(prompts, 0o750); err != nil {
		t.Fatal(err)
	}
	tone := make([]int16, 3*8000)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	f, err := os.Create(filepath.Join(prompts, "menu.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, tone, 8000, 1); err != nil {
		t.Fatal(err)
	}
	f.Close()

	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lib := loader.NewLibrary(loader.Options{Dir: "testdata/flows", PromptDir: prompts, Logger: log})
	if err := lib.Reload(ctx); err != nil {
		t.Fatalf("load flows: %v\n%+v", err, lib.Status())
	}
	db, err := store.Open(ctx, filepath.Join(dir, "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	ropts := []routing.Option{routing.WithLogger(log)}
	if cfg.routing != nil {
		ropts = append(ropts, routing.WithConfig(*cfg.routing))
	}
	queues, err := routing.New(db, ropts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ast: ast, calls: store.NewCallLog(db), queues: queues, logf: t.Logf}
	engine := ivr.NewEngine(lib, ivr.WithQueue(e.queues), ivr.WithCallLog(e.calls), ivr.WithLogger(log))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := web.New(web.Config{Prompts: promptFiles{lib}, Logger: log})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = api.Serve(ctx, ln) }()

	acfg := asterisk.Config{
		URL:           ast.ARIURL,
		WSURL:         ast.WSURL,
		User:          ast.User,
		Password:      ast.Password,
		App:           ast.App,
		PromptBaseURL: "http://" + ln.Addr().String() + "/prompts",
		Handoff:       handoff,
		Backoff:       asterisk.Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Logger:        log,
		Handler: func(ctx context.Context, call ivr.Call) {
			if measure {
				call = newMeasuredCall(ctx, call, e)
			}
			_ = engine.Serve(ctx, call, "ari")
		},
	}
	for _, o := range opts {
		o(&acfg)
	}
	e.drv, err = asterisk.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { defer wg.Done(); _ = e.drv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		db.Close()
	})
	waitApp(t, ast)
	return e
}

// waitApp waits until the driver registered its Stasis application.
func waitApp(t *testing.T, ast *asterisktest.Asterisk) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, ast.ARIURL+"/applications/"+ast.App, nil)
		req.SetBasicAuth(ast.User, ast.Password)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the driver did not register its application")
}

// measuredCall records, for each playback stopped by a key, the time from
// the key's arrival at the driver (DTMF.At, on ChannelDtmfReceived) to the
// stop request and to the end of the playback (PlaybackFinished).
type measuredCall struct {
	ivr.Call
	e    *env
	keys chan ivr.DTMF

	mu      sync.Mutex
	lastKey time.Time
}

func newMeasuredCall(ctx context.Context, call ivr.Call, e *env) *measuredCall {
	c := &measuredCall{Call: call, e: e, keys: make(chan ivr.DTMF, 32)}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case d := <-call.DTMF():
				c.mu.Lock()
				c.lastKey = d.At
				c.mu.Unlock()
				c.keys <- d
			}
		}
	}()
	return c
}

func (c *measuredCall) DTMF() <-chan ivr.DTMF { return c.keys }

func (c *measuredCall) Play(ctx context.Context, prompts []ivr.Audio) (ivr.Playback, error) {
	pb, err := c.Call.Play(ctx, prompts)
	if err != nil {
		return nil, err
	}
	return &measuredPlayback{Playback: pb, c: c}, nil
}

type measuredPlayback struct {
	ivr.Playback
	c *measuredCall
}

func (p *measuredPlayback) Stop() {
	p.c.mu.Lock()
	key := p.c.lastKey
	p.c.lastKey = time.Time{} // a key stops one playback at most
	p.c.mu.Unlock()
	p.Playback.Stop()
	if key.IsZero() {
		return
	}
	stopped := time.Since(key)
	go func() {
		select {
		case <-p.Done():
			finished := time.Since(key)
			p.c.e.mu.Lock()
			p.c.e.latencies = append(p.c.e.latencies, finished)
			p.c.e.mu.Unlock()
			p.c.e.logf("barge-in over ARI: key received -> stop sent %v, -> PlaybackFinished %v", stopped, finished)
		case <-time.After(5 * time.Second):
		}
	}()
}

// runSipp places one call of a testdata/sipp scenario to number.
func runSipp(t *testing.T, ast *asterisktest.Asterisk, scenario, number string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", sf, "-m", "1", "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-s", number, "-timeout", "30s", "-timeout_error", "-nostdin",
		ast.SIPAddr)
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sipp %s: %v\n%s", scenario, err, out)
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p%2 == 0 { // sipp uses p and p+2 for media; keep it even
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// lastCall waits for the only call record to reach an outcome.
func (e *env) lastCall(t *testing.T, want ivr.Outcome) ivr.CallRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []ivr.CallRecord
	for time.Now().Before(deadline) {
		recs, err := e.calls.ListCalls(context.Background(), store.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		last = recs
		if len(recs) == 1 && recs[0].Outcome == want && recs[0].EndedAt != nil {
			return recs[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("call records %+v, want one ended with outcome %q", last, want)
	return ivr.CallRecord{}
}

func TestBargeInQueueAbandon(t *testing.T) {
	e := start(t, nil, true)
	queued := make(chan []routing.WaitingContact, 1)
	go func() {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if l, err := e.queues.List(context.Background(), "sales"); err == nil && len(l) > 0 {
				queued <- l
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		queued <- nil
	}()
	runSipp(t, e.ast, "uac_key1_bye.xml", "3900")

	waiting := <-queued
	if len(waiting) != 1 {
		t.Fatalf("contacts seen waiting in queue sales: %+v, want 1", waiting)
	}
	rec := e.lastCall(t, ivr.OutcomeAbandoned)
	if rec.Driver != "ari" || rec.Dialled != "3900" || rec.Caller != "5551234" || rec.Digits != "1" || rec.Queue != "sales" {
		t.Errorf("call record %+v", rec)
	}
	if c := waiting[0]; c.CallID != rec.ID || c.Intent != "sales" {
		t.Errorf("contact %+v, want call %s intent sales", c, rec.ID)
	}
	if rec.Visits[0].Node != "menu" || rec.Visits[0].Result != "key 1" {
		t.Errorf("visits %+v, want menu answered with key 1", rec.Visits)
	}
	if l, err := e.queues.List(context.Background(), "sales"); err != nil || len(l) != 0 {
		t.Errorf("queue sales after hang-up: %+v, %v; want empty", l, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.latencies) == 0 {
		t.Fatal("the key did not stop the menu prompt")
	}
	if e.latencies[0] > time.Second {
		t.Errorf("barge-in took %v", e.latencies[0])
	}
}

func TestDialplanHandoff(t *testing.T) {
	e := start(t, map[string]asterisk.HandoffConfig{
		"billing": {Mode: asterisk.HandoffDialplan, Context: "ivrd-queue"},
	}, false)
	type result struct {
		vars map[string]string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		// Once the call is recorded as queued, its channel is in the
		// dialplan: read its variables there.
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			recs, _ := e.calls.ListCalls(context.Background(), store.CallFilter{})
			if len(recs) == 1 && recs[0].Outcome == ivr.OutcomeQueued {
				vars := map[string]string{}
				for _, name := range []string{"IVRD_QUEUE", "IVRD_INTENT", "IVRD_CONTACT_ID", "IVRD_LANGUAGE",
					"IVRD_PRIORITY", "IVRD_SKILLS", "IVRD_VARS", "IVRD_QUEUE_REACHED",
					"IVRD_RECORDING_CONSENT", "IVRD_RECORD"} {
					v, err := getVar(e.ast, recs[0].ID, name)
					if err != nil {
						got <- result{err: err}
						return
					}
					vars[name] = v
				}
				if vars["IVRD_QUEUE_REACHED"] != "" {
					got <- result{vars: vars}
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		got <- result{err: errors.New("call never reached the dialplan queue")}
	}()
	runSipp(t, e.ast, "uac_key1_bye.xml", "3901")
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	rec := e.lastCall(t, ivr.OutcomeQueued)
	want := map[string]string{
		"IVRD_QUEUE": "billing", "IVRD_INTENT": "invoice", "IVRD_CONTACT_ID": rec.ID, "IVRD_LANGUAGE": "en",
		"IVRD_PRIORITY": "4", "IVRD_SKILLS": "en,billing", "IVRD_QUEUE_REACHED": "billing",
		// The flow asks no consent: the dialplan must not record.
		"IVRD_RECORDING_CONSENT": "", "IVRD_RECORD": "0",
	}
	for k, v := range want {
		if r.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, r.vars[k], v)
		}
	}
	if r.vars["IVRD_VARS"] == "" || r.vars["IVRD_VARS"][0] != '{' {
		t.Errorf("IVRD_VARS = %q, want a JSON object", r.vars["IVRD_VARS"])
	}
	if l, _ := e.queues.List(context.Background(), "billing"); len(l) != 0 {
		t.Errorf("ivrd's queue billing holds %+v; the dialplan should have the call", l)
	}
}

func getVar(ast *asterisktest.Asterisk, channel, name string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, ast.ARIURL+"/channels/"+channel+"/variable?variable="+name, nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(ast.User, ast.Password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", errors.New(res.Status + ": " + string(b))
	}
	var v struct{ Value string }
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	return v.Value, nil
}

// testWriter sends logs to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

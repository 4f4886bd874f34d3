package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// Paths shared by every test, set by TestMain.
var (
	// ivrdBin is the ivrd binary built for this run.
	ivrdBin string
	// ttsCache is the text-to-speech cache every ivrd of the run shares, so
	// each prompt is rendered once.
	ttsCache string
	// repoRoot is the module root (the parent of this package).
	repoRoot string
)

const (
	// startTimeout bounds how long ivrd may take to answer /healthz.
	startTimeout = 30 * time.Second
	// stopTimeout bounds how long ivrd may take to exit after SIGTERM
	// when no call is up.
	stopTimeout = 10 * time.Second
	// serviceMain is the number of the main test flow (testdata/flows).
	serviceMain = "3900"
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "ivrd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: find module root:", err)
		return 1
	}
	repoRoot = root
	ivrdBin = filepath.Join(tmp, "ivrd")
	build := exec.Command("go", "build", "-o", ivrdBin, "./cmd/ivrd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: go build ./cmd/ivrd: %v\n%s", err, out)
		return 1
	}
	for _, tool := range []string{"sipp", "baresip", "espeak-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: %s not found (run make test-deps): %v\n", tool, err)
			return 1
		}
	}
	ttsCache = filepath.Join(tmp, "tts")

	// Render the test prompts once, before tests run in parallel, and
	// fail early with the diagnostics if the test flows do not load.
	for _, dir := range []string{"testdata/flows", filepath.Join(repoRoot, "flows")} {
		abs, _ := filepath.Abs(dir)
		v := exec.Command(ivrdBin, "validate", "--flows", abs)
		v.Env = append(os.Environ(), "IVRD_TTS_CACHE_DIR="+ttsCache, "IVRD_DATA_DIR="+filepath.Join(tmp, "validate"))
		v.Dir = tmp
		if out, err := v.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: ivrd validate %s: %v\n%s", abs, err, out)
			return 1
		}
	}

	initPorts()
	return m.Run()
}

// Ports: each test process takes a block of 1000 ports chosen from its pid,
// and hands them out in order after checking they are free, so tests running
// in parallel (and two runs of the suite) do not collide.
var nextPort atomic.Int32

func initPorts() {
	nextPort.Store(int32(20000 + (os.Getpid()%40)*1000))
}

// freePorts returns the first of n consecutive ports that are free for both
// UDP and TCP on loopback.
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		base := int(nextPort.Add(int32(n))) - n
		if base+n > 65000 {
			nextPort.Store(20000)
			continue
		}
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatalf("no %d free consecutive ports", n)
	return 0
}

func portsFree(base, n int) bool {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for p := base; p < base+n; p++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		closers = append(closers, u)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		closers = append(closers, l)
	}
	return true
}

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ivrdOptions tune one ivrd.
type ivrdOptions struct {
	// Flows is the folder copied as the flows folder; default
	// testdata/flows.
	Flows string
	// Drain is shutdown.drain; default 20s.
	Drain time.Duration
	// Config is YAML appended to the generated configuration, for
	// sections it does not write (ari:, recordings:).
	Config string
	// HTTP is YAML added to the http: section (users:, first when given,
	// as newUsers writes it), indented by two spaces. The harness's own
	// user is added to the users.
	HTTP string
	// SIP is YAML added to the sip: section (trunk:), indented by two
	// spaces.
	SIP string
}

// ivrdProc is one running ivrd.
type ivrdProc struct {
	t        testing.TB
	cmd      *exec.Cmd
	dir      string
	config   string
	flowsDir string
	sipPort  int
	sipAddr  string // 127.0.0.1:port, UDP and TCP
	httpURL  string
	// token is a supervisor's, which every ivrd of the tests has: the
	// harness reads the call log, the queues and the flows with it.
	token string
	log   *syncBuffer

	exited  chan struct{}
	waitErr error
	stopped atomic.Bool
}

// startIvrd writes a config for a fresh ivrd in t.TempDir(), starts
// `ivrd serve` and waits until /healthz answers. Cleanup stops it; its log is
// printed when the test failed.
func startIvrd(t testing.TB, opts ivrdOptions) *ivrdProc {
	t.Helper()
	if opts.Flows == "" {
		opts.Flows = "testdata/flows"
	}
	if opts.Drain == 0 {
		opts.Drain = 20 * time.Second
	}
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	copyDir(t, opts.Flows, flowsDir)

	sipPort := freePorts(t, 1)
	httpPort := freePorts(t, 1)
	rtpMin := freePorts(t, 20)
	p := &ivrdProc{
		t:        t,
		dir:      dir,
		config:   filepath.Join(dir, "ivrd.yaml"),
		flowsDir: flowsDir,
		sipPort:  sipPort,
		sipAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(sipPort)),
		httpURL:  "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		log:      &syncBuffer{},
		exited:   make(chan struct{}),
	}
	// The harness's own user goes first in http.users, before the test's.
	harness, harnessYAML := newUsers(t, harnessUser)
	p.token = harness[harnessUser].token
	httpYAML := harnessYAML + strings.TrimPrefix(opts.HTTP, "  users:\n")
	config := fmt.Sprintf(`data_dir: %[1]s/data
log:
  level: debug
  format: text
flows:
  dir: %[2]s
  watch: true
tts:
  cache_dir: %[3]s
sip:
  udp: %[4]s
  tcp: %[4]s
  rtp_ports: %[5]d-%[6]d
  media_timeout: 30s
%[10]shttp:
  addr: %[7]s
%[9]sshutdown:
  drain: %[8]s
`, dir, flowsDir, ttsCache, p.sipAddr, rtpMin, rtpMin+19,
		strings.TrimPrefix(p.httpURL, "http://"), opts.Drain, httpYAML, opts.SIP) + opts.Config
	if err := os.WriteFile(p.config, []byte(config), 0o644); err != nil {
		t.Fatalf("write config: %v", err)
	}

	p.launch(t)
	return p
}

// launch starts `ivrd serve` with p's config and waits until /healthz
// answers. Cleanup stops it; its log is printed when the test failed.
func (p *ivrdProc) launch(t testing.TB) {
	t.Helper()
	p.cmd = exec.Command(ivrdBin, "serve", "--config", p.config)
	p.cmd.Dir = p.dir
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start ivrd: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("ivrd log (%s), HTTP requests left out:\n%s", p.config, p.logWithoutHTTP())
		}
	})

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			t.Fatalf("ivrd exited at start: %v\n%s", p.waitErr, p.log.String())
		default:
		}
		res, err := http.Get(p.httpURL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ivrd not healthy after %v (last error %v)\n%s", startTimeout, err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restart starts a new ivrd on the configuration, folders and ports of p,
// which must have exited (killed or stopped).
func restart(t testing.TB, p *ivrdProc) *ivrdProc {
	t.Helper()
	select {
	case <-p.exited:
	default:
		t.Fatal("restart: ivrd still running")
	}
	q := &ivrdProc{
		t: t, dir: p.dir, config: p.config, flowsDir: p.flowsDir,
		sipPort: p.sipPort, sipAddr: p.sipAddr, httpURL: p.httpURL, token: p.token,
		log: &syncBuffer{}, exited: make(chan struct{}),
	}
	q.launch(t)
	return q
}

// signal sends sig to ivrd.
func (p *ivrdProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal ivrd: %v", err)
	}
}

// wait waits up to d for ivrd to exit and returns its exit code, or -1 on
// timeout.
func (p *ivrdProc) wait(d time.Duration) int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// stop sends SIGTERM, waits, and kills ivrd if it does not exit in time.
func (p *ivrdProc) stop() {
	if !p.stopped.CompareAndSwap(false, true) {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if p.wait(stopTimeout) < 0 {
		// A test that failed may leave calls up, which ivrd rightly
		// drains; only a passing test makes this an error.
		if p.t.Failed() {
			p.t.Logf("ivrd did not exit within %v of SIGTERM; killed", stopTimeout)
		} else {
			p.t.Errorf("ivrd did not exit within %v of SIGTERM; killed", stopTimeout)
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logWithoutHTTP is ivrd's log without the access log of the API, which
// the tests' polling fills.
func (p *ivrdProc) logWithoutHTTP() string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(p.log.String(), "\n") {
		if !strings.Contains(l, `msg="http request"`) {
			b.WriteString(l)
		}
	}
	return b.String()
}

// logHas reports whether ivrd's log contains s.
func (p *ivrdProc) logHas(s string) bool { return strings.Contains(p.log.String(), s) }

// copyDir copies the regular files of src into dst, recursively.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// harnessUser names the harness's user in every ivrd's http.users; its
// role is supervisor (see newUsers).
const harnessUser = "supervisor-e2e-harness"

// getJSON GETs path from ivrd's HTTP API with the harness's supervisor
// token and decodes the JSON answer into v. It returns the status code; a
// transport error fails the test.
func (p *ivrdProc) getJSON(t testing.TB, path string, v any) int {
	t.Helper()
	code, body := p.api(t, http.MethodGet, p.token, path, nil)
	if code == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: decode %q: %v", path, body, err)
		}
	}
	return code
}

// call returns the call record of id, or nil when the API does not know it.
func (p *ivrdProc) call(t testing.TB, id string) *ivr.CallRecord {
	t.Helper()
	var rec ivr.CallRecord
	if code := p.getJSON(t, "/api/calls/"+url.PathEscape(id), &rec); code != http.StatusOK {
		return nil
	}
	return &rec
}

// waitCall polls the call record of id until done accepts it.
func (p *ivrdProc) waitCall(t testing.TB, id string, timeout time.Duration, done func(*ivr.CallRecord) bool) *ivr.CallRecord {
	t.Helper()
	var last *ivr.CallRecord
	ok := waitFor(timeout, func() bool {
		last = p.call(t, id)
		return last != nil && done(last)
	})
	if !ok {
		t.Fatalf("call %s: record not as expected after %v; last: %s", id, timeout, dump(last))
	}
	return last
}

// ended reports whether a call record is final.
func ended(r *ivr.CallRecord) bool { return r.EndedAt != nil }

// waitFor polls cond every 25 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// findContact looks through any JSON document for an object whose call_id
// is callID: the queue API may list contacts at the top level or inside a
// summary object.
func findContact(doc any, callID string) map[string]any {
	switch v := doc.(type) {
	case map[string]any:
		if id, _ := v["call_id"].(string); id == callID {
			return v
		}
		for _, e := range v {
			if c := findContact(e, callID); c != nil {
				return c
			}
		}
	case []any:
		for _, e := range v {
			if c := findContact(e, callID); c != nil {
				return c
			}
		}
	}
	return nil
}

// visit returns the first visit of node in r.
func visit(r *ivr.CallRecord, node string) (ivr.Visit, bool) {
	for _, v := range r.Visits {
		if v.Node == node {
			return v, true
		}
	}
	return ivr.Visit{}, false
}

// sippRun is a sipp process calling an ivrd.
type sippRun struct {
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	out     *syncBuffer
	errFile string
	// CallID is the Call-ID of the (single) call sipp makes.
	CallID string
	done   chan struct{}
	err    error
}

// sippResult is how a sipp run ended.
type sippResult struct {
	Code   int    // exit code: 0 when every call succeeded
	Output string // sipp's screen and stderr
	Errors string // the -trace_err file: unexpected messages
}

var sippCalls atomic.Int64

// startSipp starts sipp with scenario (a file under testdata/sipp, or a
// path) against ivrd, one call to service. Extra args go before the target.
func startSipp(t testing.TB, p *ivrdProc, scenario, service string, args ...string) *sippRun {
	t.Helper()
	return startSippAt(t, p.sipAddr, scenario, service, args...)
}

// startSippAt is startSipp calling the SIP address target (ivrd, or an
// Asterisk that hands the call to ivrd).
func startSippAt(t testing.TB, target, scenario, service string, args ...string) *sippRun {
	t.Helper()
	if !strings.Contains(scenario, "/") {
		scenario = filepath.Join("testdata", "sipp", scenario)
	}
	scenario, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sipPort := freePorts(t, 1)
	mediaPort := freePorts(t, 4)
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	prefix := fmt.Sprintf("e2e-%s-%d", name, sippCalls.Add(1))
	r := &sippRun{
		out:     &syncBuffer{},
		errFile: filepath.Join(dir, "errors.log"),
		CallID:  prefix + "-1",
		done:    make(chan struct{}),
	}
	argv := []string{
		"-sf", scenario,
		"-s", service,
		"-m", "1", "-l", "1",
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(sipPort),
		"-mp", strconv.Itoa(mediaPort),
		"-cid_str", prefix + "-%u",
		"-timeout", "30s", "-timeout_error",
		"-trace_err", "-error_file", r.errFile,
		"-nostdin",
	}
	argv = append(argv, args...)
	argv = append(argv, target)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	r.cancel = cancel
	r.cmd = exec.CommandContext(ctx, "sipp", argv...)
	r.cmd.Dir = dir
	r.cmd.Stdout = r.out
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait waits for sipp to exit.
func (r *sippRun) wait(t testing.TB) sippResult {
	t.Helper()
	<-r.done
	r.cancel()
	res := sippResult{Code: r.cmd.ProcessState.ExitCode(), Output: r.out.String()}
	if b, err := os.ReadFile(r.errFile); err == nil {
		res.Errors = string(b)
	}
	var ee *exec.ExitError
	if r.err != nil && !errors.As(r.err, &ee) {
		t.Fatalf("sipp: %v", r.err)
	}
	return res
}

// runSipp runs sipp to its end; see startSipp.
func runSipp(t testing.TB, p *ivrdProc, scenario, service string, args ...string) (sippResult, string) {
	t.Helper()
	r := startSipp(t, p, scenario, service, args...)
	return r.wait(t), r.CallID
}

// requireSippOK fails the test unless sipp exited 0.
func requireSippOK(t testing.TB, res sippResult) {
	t.Helper()
	if res.Code != 0 {
		t.Fatalf("sipp exited %d\nerrors:\n%s\noutput (tail):\n%s", res.Code, res.Errors, tail(res.Output, 3000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

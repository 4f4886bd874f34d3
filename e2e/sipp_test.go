package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// sippCaller is the From user of the sipp scenarios.
const sippCaller = "0612345678"

// flowVersion is the version ivrd gives a flow file: the first 12 hex
// digits of the SHA-256 of its content.
func flowVersion(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])[:12]
}

// getRaw GETs path with the harness's supervisor token and returns the
// status and body.
func (p *ivrdProc) getRaw(t testing.TB, path string) (int, string) {
	t.Helper()
	code, b := p.api(t, http.MethodGet, p.token, path, nil)
	return code, string(b)
}

// flowsStatus is the answer of GET /api/flows.
type flowsStatus struct {
	OK          bool   `json:"ok"`
	Error       string `json:"error"`
	Diagnostics []struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Col      int    `json:"col"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
	} `json:"diagnostics"`
	Flows []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"flows"`
}

// version returns the version of the named flow being served, or "".
func (s *flowsStatus) version(flow string) string {
	for _, f := range s.Flows {
		if f.Name == flow {
			return f.Version
		}
	}
	return ""
}

func (p *ivrdProc) flows(t testing.TB) flowsStatus {
	t.Helper()
	var st flowsStatus
	if code := p.getJSON(t, "/api/flows", &st); code != http.StatusOK {
		t.Fatalf("GET /api/flows: status %d", code)
	}
	return st
}

// waitQueued polls GET /api/queues/{queue} until it lists the contact of
// callID, and returns it.
func (p *ivrdProc) waitQueued(t testing.TB, queue, callID string, timeout time.Duration) map[string]any {
	t.Helper()
	var contact map[string]any
	var last string
	ok := waitFor(timeout, func() bool {
		code, body := p.getRaw(t, "/api/queues/"+queue)
		last = fmt.Sprintf("%d %s", code, body)
		if code != http.StatusOK {
			return false
		}
		var doc any
		if err := jsonUnmarshal(body, &doc); err != nil {
			t.Fatalf("GET /api/queues/%s: %v", queue, err)
		}
		contact = findContact(doc, callID)
		return contact != nil
	})
	if !ok {
		t.Fatalf("call %s never listed in queue %s within %v; last answer: %s", callID, queue, timeout, last)
	}
	return contact
}

// checkMenuVisit checks that node was visited as a menu with result want.
func checkVisit(t testing.TB, rec *ivr.CallRecord, node string, kind ivr.NodeKind, result string) ivr.Visit {
	t.Helper()
	v, ok := visit(rec, node)
	if !ok {
		t.Errorf("call %s: no visit of node %q; visits: %s", rec.ID, node, dump(rec.Visits))
		return v
	}
	if v.Kind != kind {
		t.Errorf("call %s: node %q kind = %q, want %q", rec.ID, node, v.Kind, kind)
	}
	if result != "" && v.Result != result {
		t.Errorf("call %s: node %q result = %q, want %q", rec.ID, node, v.Result, result)
	}
	return v
}

// TestKeyDuringGreetingQueues: key 1 by RFC 4733 during the greeting stops
// it, chooses technical support, and the call waits in the technical queue
// with its context until the caller hangs up.
func TestKeyDuringGreetingQueues(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	s := startSipp(t, p, "dtmf_queue.xml", serviceMain, "-d", "4000")

	contact := p.waitQueued(t, "e2e-technical", s.CallID, 10*time.Second)
	for k, want := range map[string]string{
		"caller":  sippCaller,
		"intent":  "technical support",
		"dialled": serviceMain,
		"channel": "voice",
		"flow":    "e2e-main",
	} {
		if got, _ := contact[k].(string); got != want {
			t.Errorf("queued contact %s = %q, want %q; contact: %s", k, got, want, dump(contact))
		}
	}
	vars, _ := contact["vars"].(map[string]any)
	if got, _ := vars["reason"].(string); got != "technical" {
		t.Errorf("queued contact vars.reason = %q, want technical; contact: %s", got, dump(contact))
	}
	if skills, _ := contact["skills"].([]any); !slices.Contains(skills, any("network")) {
		t.Errorf("queued contact skills = %v, want [network]", contact["skills"])
	}
	live := p.call(t, s.CallID)
	if live == nil || live.Outcome != ivr.OutcomeQueued || live.Queue != "e2e-technical" {
		t.Errorf("while waiting: record = %s, want outcome queued in e2e-technical", dump(live))
	}
	// Who waits and what they typed, and the call log, want a token.
	for _, path := range []string{"/api/queues/e2e-technical", "/api/calls/" + url.PathEscape(s.CallID), "/api/calls?caller=" + url.QueryEscape(sippCaller)} {
		if code, body := p.api(t, http.MethodGet, "", path, nil); code != http.StatusUnauthorized || strings.Contains(string(body), sippCaller) {
			t.Errorf("GET %s without a token: %d %s, want 401 and no caller", path, code, body)
		}
	}

	requireSippOK(t, s.wait(t))
	rec := p.waitCall(t, s.CallID, 5*time.Second, ended)
	menu := checkVisit(t, rec, "welcome", ivr.KindMenu, "key 1")
	queue := checkVisit(t, rec, "technical", ivr.KindQueue, "")
	// The greeting lasts about five seconds; the key came one second in.
	// Reaching the queue well before the greeting's end shows the key
	// stopped it.
	if d := queue.At.Sub(menu.At); d > 3*time.Second {
		t.Errorf("queue reached %v after the menu started: the key did not interrupt the greeting", d)
	}
	if rec.Outcome != ivr.OutcomeAbandoned {
		t.Errorf("outcome = %q, want %q", rec.Outcome, ivr.OutcomeAbandoned)
	}
	if rec.Digits != "1" || rec.Queue != "e2e-technical" || rec.ContactID == "" || rec.Caller != sippCaller {
		t.Errorf("record = %s; want digits 1, queue e2e-technical, a contact id, caller %s", dump(rec), sippCaller)
	}
	if rec.QueueWait < 2*time.Second {
		t.Errorf("queue_wait = %v, want about 4s", rec.QueueWait)
	}
	// Once abandoned, the contact no longer waits.
	var doc any
	if code := p.getJSON(t, "/api/queues/e2e-technical", &doc); code != http.StatusOK {
		t.Fatalf("GET /api/queues/e2e-technical after hang-up: status %d", code)
	}
	if c := findContact(doc, s.CallID); c != nil {
		if state, _ := c["state"].(string); state == "" || state == "waiting" {
			t.Errorf("contact still waiting after the caller hung up: %s", dump(c))
		}
	}
}

// TestKeyOverTCP: the same call as above over SIP/TCP, on the port UDP
// uses.
func TestKeyOverTCP(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	res, id := runSipp(t, p, "dtmf_queue.xml", serviceMain, "-t", "t1", "-d", "1000")
	requireSippOK(t, res)
	rec := p.waitCall(t, id, 5*time.Second, ended)
	checkVisit(t, rec, "welcome", ivr.KindMenu, "key 1")
	checkVisit(t, rec, "technical", ivr.KindQueue, "")
	if rec.Outcome != ivr.OutcomeAbandoned || rec.Queue != "e2e-technical" {
		t.Errorf("record = %s; want abandoned in e2e-technical", dump(rec))
	}
}

// TestNoInputRetriesThenFailure: a caller who presses nothing hears the
// menu three times, then the flow's failure node hangs up.
func TestNoInputRetriesThenFailure(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	res, id := runSipp(t, p, "no_input.xml", "3901")
	requireSippOK(t, res)

	rec := p.waitCall(t, id, 5*time.Second, ended)
	menu := checkVisit(t, rec, "choose", ivr.KindMenu, "")
	if n := strings.Count(menu.Result, "no input"); n != 3 {
		t.Errorf("menu result = %q: %d no-input results, want 3", menu.Result, n)
	}
	if !strings.HasSuffix(menu.Result, "failed") {
		t.Errorf("menu result = %q, want it to end with failed", menu.Result)
	}
	if last := rec.Visits[len(rec.Visits)-1]; last.Node != "failed" || last.Kind != ivr.KindHangup {
		t.Errorf("last visit = %+v, want the hangup node failed", last)
	}
	if rec.Outcome != ivr.OutcomeHangup || rec.Digits != "" {
		t.Errorf("outcome %q digits %q, want %q and none", rec.Outcome, rec.Digits, ivr.OutcomeHangup)
	}
	if rec.Flow != "e2e-short" || rec.Dialled != "3901" {
		t.Errorf("flow %q dialled %q, want e2e-short on 3901", rec.Flow, rec.Dialled)
	}
}

// TestInfoDTMFChoosesOption2: a key sent by SIP INFO (application/dtmf-relay)
// is a menu choice like any other.
func TestInfoDTMFChoosesOption2(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	res, id := runSipp(t, p, "info_dtmf.xml", serviceMain, "-d", "1500")
	requireSippOK(t, res)

	rec := p.waitCall(t, id, 5*time.Second, ended)
	checkVisit(t, rec, "welcome", ivr.KindMenu, "key 2")
	checkVisit(t, rec, "billing", ivr.KindQueue, "")
	if rec.Digits != "2" || rec.Queue != "e2e-billing" || rec.Outcome != ivr.OutcomeAbandoned {
		t.Errorf("record = %s; want digits 2, queue e2e-billing, outcome abandoned", dump(rec))
	}
	if rec.Vars["reason"] != "billing" {
		t.Errorf("vars = %v, want reason=billing", rec.Vars)
	}
}

// TestG729OnlyRejected: an offer without PCMU or PCMA is refused with 488.
func TestG729OnlyRejected(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	res, id := runSipp(t, p, "g729.xml", serviceMain)
	requireSippOK(t, res)
	if rec := p.call(t, id); rec != nil && len(rec.Visits) > 0 {
		t.Errorf("a refused call ran the flow: %s", dump(rec))
	}
}

// TestFlowEditedDuringCall: a flow rewritten while a call runs it is
// reloaded; that call finishes on the version it started with, the next
// call takes the new one.
func TestFlowEditedDuringCall(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	file := filepath.Join(p.flowsDir, "main.yaml")
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	oldVersion := flowVersion(old)
	if st := p.flows(t); st.version("e2e-main") != oldVersion {
		t.Fatalf("GET /api/flows does not show version %s of main.yaml: %s", oldVersion, dump(st))
	}

	// The first call presses 1 four seconds in; the flow changes before.
	first := startSipp(t, p, "dtmf_late.xml", serviceMain, "-d", "1000")
	// The record is saved when the call starts, then at handoff and at the end.
	p.waitCall(t, first.CallID, 5*time.Second, func(*ivr.CallRecord) bool { return true })

	edited := strings.NewReplacer(
		"Welcome to the test line.", "Hello.",
		"name: e2e-technical", "name: e2e-technical-v2",
	).Replace(string(old))
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	newVersion := flowVersion([]byte(edited))
	t.Logf("%s: main.yaml rewritten, version %s -> %s", time.Now().UTC().Format("15:04:05.000"), oldVersion, newVersion)
	var st flowsStatus
	if !waitFor(5*time.Second, func() bool {
		st = p.flows(t)
		return st.version("e2e-main") == newVersion
	}) {
		t.Fatalf("flows not reloaded within 5s: GET /api/flows does not show version %s: %s", newVersion, dump(st))
	}
	if rec := p.call(t, first.CallID); rec == nil {
		t.Fatalf("call %s: no record", first.CallID)
	} else if _, chose := visit(rec, "technical"); chose || rec.EndedAt != nil {
		t.Fatalf("reload came too late to test a call in progress: %s", dump(rec))
	}

	second := startSipp(t, p, "dtmf_queue.xml", serviceMain, "-d", "1000")
	requireSippOK(t, first.wait(t))
	requireSippOK(t, second.wait(t))

	a := p.waitCall(t, first.CallID, 5*time.Second, ended)
	if a.FlowVersion != oldVersion || a.Queue != "e2e-technical" {
		t.Errorf("call in progress during the edit: flow_version %q queue %q, want %q and e2e-technical",
			a.FlowVersion, a.Queue, oldVersion)
	}
	b := p.waitCall(t, second.CallID, 5*time.Second, ended)
	if b.FlowVersion != newVersion || b.Queue != "e2e-technical-v2" {
		t.Errorf("call after the edit: flow_version %q queue %q, want %q and e2e-technical-v2",
			b.FlowVersion, b.Queue, newVersion)
	}
	checkVisit(t, b, "welcome", ivr.KindMenu, "key 1")
}

// TestBrokenFlowKeepsServing: a flow edited into an invalid one is refused
// with its file:line:col in the API and the log, and calls keep running on
// the last good version.
func TestBrokenFlowKeepsServing(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	file := filepath.Join(p.flowsDir, "main.yaml")
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// An unknown key inside the menu, just before its timeout.
	lines := strings.Split(string(old), "\n")
	at := slices.Index(lines, "      timeout: 3s")
	if at < 0 {
		t.Fatal("main.yaml: no timeout line to break")
	}
	lines = slices.Insert(lines, at, "      colour: blue")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	line, col := at+1, 7
	where := fmt.Sprintf("main.yaml:%d:%d", line, col)

	var st flowsStatus
	found := func() bool {
		for _, d := range st.Diagnostics {
			if filepath.Base(d.File) == "main.yaml" && d.Line == line && d.Col == col &&
				d.Severity == "error" && strings.Contains(d.Message, "colour") {
				return true
			}
		}
		return false
	}
	if !waitFor(5*time.Second, func() bool {
		st = p.flows(t)
		return found()
	}) {
		t.Fatalf("GET /api/flows does not report the unknown key at %s: %s", where, dump(st))
	}
	if st.OK || !strings.Contains(st.Error, where) {
		t.Errorf("GET /api/flows: ok %v error %q, want false and an error naming %s", st.OK, st.Error, where)
	}
	if v := st.version("e2e-main"); v != flowVersion(old) {
		t.Errorf("GET /api/flows: e2e-main version %q, want the serving version %s", v, flowVersion(old))
	}
	if !waitFor(2*time.Second, func() bool { return p.logHas(where) }) {
		t.Errorf("ivrd's log does not name %s", where)
	}

	res, id := runSipp(t, p, "info_dtmf.xml", serviceMain, "-d", "500")
	requireSippOK(t, res)
	rec := p.waitCall(t, id, 5*time.Second, ended)
	if rec.FlowVersion != flowVersion(old) {
		t.Errorf("call after a broken edit: flow_version %q, want the last good %q", rec.FlowVersion, flowVersion(old))
	}
	checkVisit(t, rec, "welcome", ivr.KindMenu, "key 2")
}

// TestGracefulShutdown: on SIGTERM ivrd refuses new calls with 503, lets
// the call in progress run to its end, then exits 0 well before the drain
// time.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	const drain = 20 * time.Second
	p := startIvrd(t, ivrdOptions{Drain: drain})
	s := startSipp(t, p, "dtmf_queue.xml", serviceMain, "-d", "4000")
	p.waitQueued(t, "e2e-technical", s.CallID, 10*time.Second)

	p.signal(syscall.SIGTERM)
	if !waitFor(2*time.Second, func() bool { return p.logHas("stopping") }) {
		t.Fatal("ivrd did not log that it is stopping")
	}
	res, _ := runSipp(t, p, "expect_503.xml", serviceMain)
	if res.Code != 0 {
		t.Errorf("new call while draining: sipp exited %d, want a 503\nerrors:\n%s", res.Code, res.Errors)
	}
	if code := p.wait(0); code >= 0 {
		t.Fatalf("ivrd exited (%d) with a call in progress", code)
	}

	requireSippOK(t, s.wait(t))
	hungUp := time.Now()
	code := p.wait(drain / 2)
	if code != 0 {
		t.Fatalf("ivrd exit code %d (-1: still running %v after the last call ended), want 0", code, drain/2)
	}
	t.Logf("ivrd exited %v after the last call ended", time.Since(hungUp).Round(time.Millisecond))
}

// TestManualCallScript: tools/sipp/call.xml, the README's one-line call,
// works against the shipped flows and make-run-like settings.
func TestManualCallScript(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{Flows: alwaysOpen(t, filepath.Join(repoRoot, "flows"))})
	res, id := runSipp(t, p, filepath.Join(repoRoot, "tools", "sipp", "call.xml"), "3900")
	requireSippOK(t, res)
	rec := p.waitCall(t, id, 5*time.Second, ended)
	if !strings.HasPrefix(rec.Digits, "1") || len(rec.Visits) < 2 {
		t.Errorf("record = %s; want key 1 pressed and the flow past its first node", dump(rec))
	}
	if !slices.ContainsFunc(rec.Visits, func(v ivr.Visit) bool { return v.Result == "key 1" }) {
		t.Errorf("no node took key 1 as a choice; visits: %s", dump(rec.Visits))
	}
	if rec.Outcome == ivr.OutcomeError {
		t.Errorf("call ended in error: %s", rec.Error)
	}
}

// alwaysOpen copies a flows folder with every calendar open around the clock
// and without holidays, so a test of the shipped menus does not depend on
// the hour it runs at.
func alwaysOpen(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if d.Name() == "entrypoints.yaml" {
			b = openHours.ReplaceAll(b, []byte("${1}hours:\n${1}  mon-sun: \"00:00-24:00\"\n"))
			b = holidays.ReplaceAll(b, []byte("${1}holidays: []\n"))
			b = holidayLines.ReplaceAll(b, nil)
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy flows: %v", err)
	}
	return dst
}

var (
	openHours    = regexp.MustCompile(`(?m)^(\s+)hours:\n(?:\s+(?:mon|tue|wed|thu|fri|sat|sun)[a-z-]*:.*\n)+`)
	holidays     = regexp.MustCompile(`(?m)^(\s+)holidays:\n`)
	holidayLines = regexp.MustCompile(`(?m)^\s+(?:- \d{4}-\d{2}-\d{2}|#.*)\n`)
)

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // reads the consent rows as they are on disk

	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
)

// serviceRecord is the number of testdata/flows-record: consent notice
// (9 refuses), then a recording from the `start` node to the end of the
// call, with a pause for the sensitive `card` collect, then a queue whose
// agent conversation is recorded too.
const serviceRecord = "4300"

// apiUser is one user of the HTTP API in these tests.
type apiUser struct {
	name, role, token string
}

// newUsers makes a random token per user and returns the http.users YAML
// (indented for the http: section) with their hashes.
func newUsers(t testing.TB, names ...string) (map[string]apiUser, string) {
	t.Helper()
	users := map[string]apiUser{}
	var y strings.Builder
	y.WriteString("  users:\n")
	for _, n := range names {
		role, _, _ := strings.Cut(n, "-") // "agent-1" has role agent
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		tok := base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(tok))
		users[n] = apiUser{name: n, role: role, token: tok}
		fmt.Fprintf(&y, "    - {name: %s, role: %s, token_sha256: %s}\n", n, role, hex.EncodeToString(sum[:]))
	}
	return users, y.String()
}

// api sends an HTTP request to ivrd with the user's token ("" sends none)
// and returns the status and body.
func (p *ivrdProc) api(t testing.TB, method, token, path string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.httpURL+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return res.StatusCode, b
}

// recordingDoc is a recording as the API serves it.
type recordingDoc struct {
	ID              string  `json:"id"`
	CallID          string  `json:"call_id"`
	Driver          string  `json:"driver"`
	Queue           string  `json:"queue"`
	State           string  `json:"state"`
	SHA256          string  `json:"sha256"`
	Size            int64   `json:"size"`
	DurationSeconds float64 `json:"duration_seconds"`
	Encrypted       bool    `json:"encrypted"`
	ConsentID       string  `json:"consent_id"`
	Pauses          []struct {
		Reason        string     `json:"reason"`
		OffsetSeconds float64    `json:"offset_seconds"`
		At            time.Time  `json:"at"`
		ResumedAt     *time.Time `json:"resumed_at"`
	} `json:"pauses"`
	Hold *struct {
		By     string `json:"by"`
		Reason string `json:"reason"`
	} `json:"hold"`
	Consent *struct {
		ID     string `json:"id"`
		Choice string `json:"choice"`
	} `json:"consent"`
}

// recordingsOf searches the recordings of a call as the given user.
func (p *ivrdProc) recordingsOf(t testing.TB, token, callID string) []recordingDoc {
	t.Helper()
	code, body := p.api(t, "GET", token, "/api/recordings?call_id="+url.QueryEscape(callID), nil)
	if code != http.StatusOK {
		t.Fatalf("search recordings of %s: status %d: %s", callID, code, body)
	}
	var list struct {
		Recordings []recordingDoc `json:"recordings"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("search recordings: %v: %s", err, body)
	}
	return list.Recordings
}

// waitRecording waits until the call has one recording in a final state.
func (p *ivrdProc) waitRecording(t testing.TB, token, callID string, timeout time.Duration) recordingDoc {
	t.Helper()
	var last []recordingDoc
	if !waitFor(timeout, func() bool {
		last = p.recordingsOf(t, token, callID)
		return len(last) == 1 && last[0].State != "recording"
	}) {
		t.Fatalf("recordings of %s after %v: %s", callID, timeout, dump(last))
	}
	return last[0]
}

// recordingMeta reads one recording's metadata (with its consent).
func (p *ivrdProc) recordingMeta(t testing.TB, token, id string) recordingDoc {
	t.Helper()
	code, body := p.api(t, "GET", token, "/api/recordings/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("GET recording %s: status %d: %s", id, code, body)
	}
	var r recordingDoc
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET recording %s: %v", id, err)
	}
	return r
}

// download fetches a recording's audio into a file and returns its path.
func (p *ivrdProc) download(t testing.TB, token, id string) string {
	t.Helper()
	code, body := p.api(t, "GET", token, "/api/recordings/"+id+"/audio?download=1", nil)
	if code != http.StatusOK {
		t.Fatalf("GET recording %s audio: status %d: %.200s", id, code, body)
	}
	path := filepath.Join(t.TempDir(), id+".wav")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// soxi reads one property of an audio file with sox's soxi.
func soxi(t testing.TB, flag, path string) string {
	t.Helper()
	out, err := exec.Command("soxi", flag, path).CombinedOutput()
	if err != nil {
		t.Fatalf("soxi %s %s: %v: %s", flag, path, err, out)
	}
	return strings.TrimSpace(string(out))
}

// channelRMS is the RMS amplitude (0..1) of one channel (1 left, 2
// right), by sox.
func channelRMS(t testing.TB, path string, ch int) float64 {
	t.Helper()
	out, err := exec.Command("sox", path, "-n", "remix", strconv.Itoa(ch), "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("sox stat: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RMS     amplitude:"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("sox stat: %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("sox stat: no RMS amplitude in:\n%s", out)
	return 0
}

// storeFiles lists the regular files under the recordings folder, by
// sha256 of their bytes.
func storeFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return filepath.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[hex.EncodeToString(sum[:])] = path
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return files
}

// consentChoices reads the consent rows of a call straight from the
// SQLite file, as an auditor would.
func consentChoices(t testing.TB, p *ivrdProc, callID string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(p.dir, "data", "ivrd.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT choice FROM consents WHERE call_id = ? ORDER BY at`, callID)
	if err != nil {
		t.Fatalf("read consents: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordingConsent runs the recording flow under both drivers: a
// caller who stays on the line is recorded (a stereo WAV of the right
// length, the caller on the left, ivrd on the right, whose sha256 is the
// one stored), and a caller who presses 9 during the notice leaves a
// refused consent row and nothing recorded, neither in the IVR nor in the
// recorded queue.
func TestRecordingConsent(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	users, usersYAML := newUsers(t, "admin")
	admin := users["admin"].token
	p := startIvrd(t, ivrdOptions{
		Flows: "testdata/flows-record",
		HTTP:  usersYAML,
		Config: fmt.Sprintf(`ari:
  enabled: true
  url: %s
  user: %s
  password: %q
  app: %s
  reconnect_min: 100ms
  reconnect_max: 1s
`, ast.ARIURL, ast.User, ast.Password, ast.App),
	})
	waitStasisApp(t, ast)
	drivers := []driverTarget{{"sip", p.sipAddr}, {"ari", ast.SIPAddr}}

	var (
		mu       sync.Mutex
		accepted []recordingDoc
		wg       sync.WaitGroup
	)
	for i, d := range drivers {
		wg.Go(func() {
			t.Run(d.name+"/accept", func(t *testing.T) {
				r := recordAccepted(t, p, d, admin, fmt.Sprintf("06430000%d1", i))
				mu.Lock()
				accepted = append(accepted, r)
				mu.Unlock()
			})
		})
		wg.Go(func() {
			t.Run(d.name+"/refuse", func(t *testing.T) {
				recordRefused(t, p, d, admin, fmt.Sprintf("06430000%d2", i))
			})
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The store holds the accepted recordings and nothing else.
	files := storeFiles(t, filepath.Join(p.dir, "data", "recordings"))
	if len(files) != len(accepted) {
		t.Errorf("%d files in the store, want the %d accepted recordings: %v", len(files), len(accepted), files)
	}
	for _, r := range accepted {
		if _, ok := files[r.SHA256]; !ok {
			t.Errorf("recording %s (%s): no file in the store has its sha256 %s", r.ID, r.Driver, r.SHA256)
		}
	}
}

// recordAccepted places a call that stays on the line and checks its
// recording.
func recordAccepted(t *testing.T, p *ivrdProc, d driverTarget, admin, caller string) recordingDoc {
	s := startSippAt(t, d.target, "record_accept.xml", serviceRecord,
		"-key", "caller", caller, "-d", "9000")
	requireSippOK(t, s.wait(t))
	rec := p.waitCallBy(t, d.name, caller, 10*time.Second, ended)
	if got := rec.Vars[ivr.VarConsent]; got != "accepted" {
		t.Fatalf("%s = %q, want accepted; record: %s", ivr.VarConsent, got, dump(rec))
	}
	start, ok := visit(rec, "start")
	if !ok || !strings.Contains(start.Result, "record") {
		t.Logf("start visit: %+v", start)
	}
	r := p.waitRecording(t, admin, rec.ID, 15*time.Second)
	if r.State != "complete" || r.Driver != d.name || r.Encrypted {
		t.Errorf("recording state %q driver %q encrypted %v, want complete %s plain", r.State, r.Driver, r.Encrypted, d.name)
	}
	if got := consentChoices(t, p, rec.ID); !slices.Equal(got, []string{"accepted"}) {
		t.Errorf("consent rows %v, want [accepted]", got)
	}
	meta := p.recordingMeta(t, admin, r.ID)
	if meta.Consent == nil || meta.Consent.Choice != "accepted" || meta.Consent.ID != r.ConsentID {
		t.Errorf("recording's consent %s, want accepted %s", dump(meta.Consent), r.ConsentID)
	}
	if len(r.Pauses) != 1 || !strings.Contains(r.Pauses[0].Reason, "card") {
		t.Errorf("pauses %s, want one for the sensitive card collect", dump(r.Pauses))
	} else if card, ok := visit(rec, "card"); ok {
		// The pause sits where the card collect started in the audio.
		want := card.At.Sub(start.At).Seconds()
		if got := r.Pauses[0].OffsetSeconds; math.Abs(got-want) > 0.3 {
			t.Errorf("pause at %.3f s into the recording, want %.3f s (the card collect)", got, want)
		}
	}

	wav := p.download(t, admin, r.ID)
	b, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != r.SHA256 || int64(len(b)) != r.Size {
		t.Errorf("audio sha256 %s size %d, want the stored %s %d", got, len(b), r.SHA256, r.Size)
	}
	if ch, rate := soxi(t, "-c", wav), soxi(t, "-r", wav); ch != "2" || rate != "8000" {
		t.Errorf("soxi: %s channels at %s Hz, want 2 at 8000", ch, rate)
	}
	dur, err := strconv.ParseFloat(soxi(t, "-D", wav), 64)
	if err != nil {
		t.Fatal(err)
	}
	// The recording runs from the start node to the end of the call.
	want := rec.EndedAt.Sub(start.At).Seconds()
	t.Logf("%s: recording %.3f s, call from the start node to its end %.3f s", d.name, dur, want)
	if math.Abs(dur-want) > 0.5 {
		t.Errorf("recording lasts %.3f s, want %.3f ± 0.5 s (start node to the end of the call)", dur, want)
	}
	if math.Abs(dur-r.DurationSeconds) > 0.05 {
		t.Errorf("recording lasts %.3f s, its row says %.3f s", dur, r.DurationSeconds)
	}
	// Both sides are in it: the caller's speech (sipp's g711a.pcap) on the
	// left, ivrd's prompts on the right.
	left, right := channelRMS(t, wav, 1), channelRMS(t, wav, 2)
	t.Logf("%s: RMS left (caller) %.4f, right (ivrd) %.4f", d.name, left, right)
	if left < 0.01 || right < 0.01 {
		t.Errorf("RMS left %.4f right %.4f: a side of the call is missing", left, right)
	}
	// While the card number was asked, neither side was recorded (the
	// caller kept talking and ivrd played the card prompt).
	if len(r.Pauses) == 1 && r.Pauses[0].ResumedAt != nil {
		p := r.Pauses[0]
		from, length := p.OffsetSeconds+0.1, p.ResumedAt.Sub(p.At).Seconds()-0.2
		if length < 0.5 {
			t.Fatalf("pause of %.3f s, too short to check", length+0.2)
		}
		cut := filepath.Join(t.TempDir(), "pause.wav")
		if out, err := exec.Command("sox", wav, cut, "trim", fmt.Sprintf("%.3f", from), fmt.Sprintf("%.3f", length)).CombinedOutput(); err != nil {
			t.Fatalf("sox trim: %v: %s", err, out)
		}
		pl, pr := channelRMS(t, cut, 1), channelRMS(t, cut, 2)
		t.Logf("%s: during the %.1f s pause: RMS left %.5f, right %.5f", d.name, length, pl, pr)
		if pl > 0.001 || pr > 0.001 {
			t.Errorf("sensitive input recorded: RMS left %.5f right %.5f during the pause, want silence", pl, pr)
		}
	}
	return r
}

// recordRefused places a call that presses 9 during the notice and checks
// that nothing of it is recorded.
func recordRefused(t *testing.T, p *ivrdProc, d driverTarget, admin, caller string) {
	s := startSippAt(t, d.target, "record_refuse.xml", serviceRecord,
		"-key", "caller", caller, "-d", "9000")
	requireSippOK(t, s.wait(t))
	rec := p.waitCallBy(t, d.name, caller, 10*time.Second, ended)
	if got := rec.Vars[ivr.VarConsent]; got != "refused" {
		t.Fatalf("%s = %q, want refused; record: %s", ivr.VarConsent, got, dump(rec))
	}
	if v, ok := visit(rec, "desk"); !ok {
		t.Errorf("the call did not reach the queue (visits %s)", dump(rec.Visits))
	} else {
		t.Logf("%s: queue visit %q", d.name, v.Result)
	}
	if got := consentChoices(t, p, rec.ID); !slices.Equal(got, []string{"refused"}) {
		t.Errorf("consent rows %v, want [refused]", got)
	}
	// Give a late recording every chance to show up.
	time.Sleep(time.Second)
	if rs := p.recordingsOf(t, admin, rec.ID); len(rs) != 0 {
		t.Errorf("refused call recorded: %s", dump(rs))
	}
}

// TestRecordingKilled kills ivrd with SIGKILL while it records a call: the
// restarted ivrd reports the leftover, completes it (state recovered,
// sha256 of the file on disk), and leaves no temporary file.
func TestRecordingKilled(t *testing.T) {
	t.Parallel()
	users, usersYAML := newUsers(t, "admin")
	admin := users["admin"].token
	p := startIvrd(t, ivrdOptions{Flows: "testdata/flows-record", HTTP: usersYAML})
	caller := "0643000091"
	s := startSipp(t, p, "record_accept.xml", serviceRecord, "-key", "caller", caller, "-d", "60000")
	rec := p.waitCallBy(t, "sip", caller, 15*time.Second, func(r *ivr.CallRecord) bool {
		_, ok := visit(r, "message")
		return ok
	})
	var rs []recordingDoc
	if !waitFor(5*time.Second, func() bool {
		rs = p.recordingsOf(t, admin, rec.ID)
		return len(rs) == 1
	}) || rs[0].State != "recording" {
		t.Fatalf("recordings while the call goes on: %s", dump(rs))
	}
	// Several seconds of audio, some of it flushed to disk.
	time.Sleep(5 * time.Second)
	p.signal(syscall.SIGKILL)
	if code := p.wait(5 * time.Second); code == 0 {
		t.Fatalf("ivrd exited with %d after SIGKILL", code)
	}
	s.cancel()
	dir := filepath.Join(p.dir, "data", "recordings")
	parts := 0
	for _, f := range storeFiles(t, dir) {
		if strings.HasSuffix(f, ".part") {
			parts++
		}
	}
	if parts != 1 {
		t.Fatalf("%d .part files after the kill, want 1", parts)
	}

	q := restart(t, p)
	if !waitFor(5*time.Second, func() bool { return q.logHas(rs[0].ID) }) {
		t.Errorf("the restarted ivrd did not report the leftover recording %s:\n%s", rs[0].ID, q.log.String())
	}
	r := q.waitRecording(t, admin, rec.ID, 10*time.Second)
	if r.State != "recovered" || r.DurationSeconds < 3 {
		t.Errorf("after the restart: state %q, %.3f s, want recovered with the audio written before the kill", r.State, r.DurationSeconds)
	}
	files := storeFiles(t, dir)
	path, ok := files[r.SHA256]
	if !ok {
		t.Errorf("no file in the store has the recovered recording's sha256 %s: %v", r.SHA256, files)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".part") {
			t.Errorf("leftover %s still there after the restart", f)
		}
	}
	if ok && soxi(t, "-c", path) != "2" {
		t.Errorf("recovered %s is not a stereo WAV", path)
	}
	if got := consentChoices(t, q, rec.ID); !slices.Equal(got, []string{"accepted"}) {
		t.Errorf("consent rows %v, want [accepted]", got)
	}
}

// TestRecordingAccess checks who reaches a recording, on an encrypted
// store: nobody without a token, an agent only for the calls it took, and
// every attempt in the audit log; no file of the store is a plain WAV.
func TestRecordingAccess(t *testing.T) {
	t.Parallel()
	users, usersYAML := newUsers(t, "admin", "supervisor", "agent-1", "agent-2")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	phone := startPhone(t, "agent1", "auto")
	p := startIvrd(t, ivrdOptions{
		Flows: "testdata/flows-record",
		HTTP:  usersYAML,
		Config: "recordings:\n  encryption_key: " + hex.EncodeToString(key) + "\n" +
			"routing:\n  agents:\n    - {name: agent-1, phone: \"" + phone.URI() + "\"}\n",
	})
	admin, sup := users["admin"].token, users["supervisor"].token
	agent1, agent2 := users["agent-1"].token, users["agent-2"].token

	caller := "0643000081"
	s := startSipp(t, p, "record_accept.xml", serviceRecord, "-key", "caller", caller, "-d", "20000")
	live := p.waitCallBy(t, "sip", caller, 20*time.Second, func(r *ivr.CallRecord) bool {
		return r.Outcome == ivr.OutcomeQueued || r.EndedAt != nil
	})
	c := p.waitContact(t, "e2e-desk", live.ID, 5*time.Second)
	if c.Vars[ivr.VarConsent] != "accepted" {
		t.Errorf("the queued contact's %s is %q, want accepted: the agent must see it", ivr.VarConsent, c.Vars[ivr.VarConsent])
	}
	// agent-1 picks the call from the queue, its phone answers: the
	// recording is then of one of its calls.
	p.setState(t, agent1, "available")
	if code, body := p.api(t, "POST", agent1, "/api/contacts/"+c.ID+"/connect", nil); code != http.StatusAccepted {
		t.Fatalf("agent-1 connect: status %d: %s", code, body)
	}
	p.waitCall(t, live.ID, 15*time.Second, func(r *ivr.CallRecord) bool { return r.Agent == "agent-1" })
	time.Sleep(time.Second)
	if err := phone.Command("b"); err != nil { // agent-1 hangs up
		t.Fatal(err)
	}
	defer s.cancel()
	rec := p.waitCall(t, live.ID, 20*time.Second, ended)
	r := p.waitRecording(t, admin, rec.ID, 15*time.Second)
	if !r.Encrypted {
		t.Errorf("recording not encrypted: %s", dump(r))
	}

	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"no token, search", "", "/api/recordings", http.StatusUnauthorized},
		{"no token, audio", "", "/api/recordings/" + r.ID + "/audio", http.StatusUnauthorized},
		{"bad token", "not-a-token", "/api/recordings/" + r.ID, http.StatusUnauthorized},
		{"other agent, metadata", agent2, "/api/recordings/" + r.ID, http.StatusForbidden},
		{"other agent, audio", agent2, "/api/recordings/" + r.ID + "/audio", http.StatusForbidden},
		{"agent, audit log", agent1, "/api/audit", http.StatusForbidden},
		{"path traversal", admin, "/api/recordings/..%2f..%2fivrd.yaml", http.StatusNotFound},
		{"path traversal, audio", admin, "/api/recordings/%2e%2e/audio", http.StatusNotFound},
		{"own agent, metadata", agent1, "/api/recordings/" + r.ID, http.StatusOK},
		{"supervisor, metadata", sup, "/api/recordings/" + r.ID, http.StatusOK},
	} {
		if code, body := p.api(t, "GET", tc.token, tc.path, nil); code != tc.want {
			t.Errorf("%s: GET %s: status %d, want %d: %.200s", tc.name, tc.path, code, tc.want, body)
		}
	}
	if rs := p.recordingsOf(t, agent2, rec.ID); len(rs) != 0 {
		t.Errorf("agent-2 finds another agent's recording: %s", dump(rs))
	}
	if rs := p.recordingsOf(t, agent1, rec.ID); len(rs) != 1 {
		t.Errorf("agent-1 finds %d recordings of its call, want 1", len(rs))
	}

	// The authorised agent gets the plain WAV, decrypted on the fly.
	wav := p.download(t, agent1, r.ID)
	if ch := soxi(t, "-c", wav); ch != "2" {
		t.Errorf("decrypted audio: %s channels, want 2", ch)
	}
	// On disk, nothing is a plain WAV.
	files := storeFiles(t, filepath.Join(p.dir, "data", "recordings"))
	if len(files) == 0 {
		t.Fatal("no file in the store")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte("RIFF")) || bytes.Contains(b[:min(len(b), 64)], []byte("WAVE")) {
			t.Errorf("%s starts like a plain WAV", f)
		}
	}

	// Legal hold: admins only.
	hold := `{"reason": "litigation 2026-117"}`
	if code, _ := p.api(t, "PUT", sup, "/api/recordings/"+r.ID+"/hold", strings.NewReader(hold)); code != http.StatusForbidden {
		t.Errorf("supervisor hold: status %d, want 403", code)
	}
	if code, body := p.api(t, "PUT", admin, "/api/recordings/"+r.ID+"/hold", strings.NewReader(hold)); code/100 != 2 {
		t.Errorf("admin hold: status %d: %s", code, body)
	}
	if m := p.recordingMeta(t, sup, r.ID); m.Hold == nil || m.Hold.By != "admin" || !strings.Contains(m.Hold.Reason, "2026-117") {
		t.Errorf("hold not visible: %s", dump(m.Hold))
	}

	// Every attempt is in the audit log, refused ones included.
	code, body := p.api(t, "GET", admin, "/api/audit?limit=500", nil)
	if code != http.StatusOK {
		t.Fatalf("audit log: status %d: %s", code, body)
	}
	var audit struct {
		Entries []struct {
			User        string `json:"user"`
			Outcome     string `json:"outcome"`
			RecordingID string `json:"recording_id"`
			Remote      string `json:"remote"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &audit); err != nil {
		t.Fatalf("audit log: %v: %s", err, body)
	}
	seen := map[string]bool{}
	for _, e := range audit.Entries {
		seen[e.User+" "+e.Outcome] = true
		if e.Remote == "" {
			t.Errorf("audit entry without a remote address: %+v", e)
		}
	}
	for _, want := range []string{"- unauthenticated", "agent-2 denied", "agent-1 ok", "admin not_found", "supervisor denied", "admin ok"} {
		if !seen[want] {
			t.Errorf("no audit entry %q; entries: %s", want, body)
		}
	}
}

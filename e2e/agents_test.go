package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/asterisk/asterisktest"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
	"github.com/ivrd/ivrd/web/webtest"
)

// serviceAgents is the number of the agents flow (testdata/flows-agents).
const serviceAgents = "4400"

// Tones: the caller's voice and the agents' (different, so that each side
// can tell whose audio it hears).
const (
	callerHz = 400.0
	agentHz  = 1000.0
)

// minTalk is how long audio must flow both ways.
const minTalk = 3 * time.Second

// startAgentsIvrd starts an ivrd on the agents flow with users (see
// newUsers) and the given routing: section body (indented by two spaces).
func startAgentsIvrd(t *testing.T, usersYAML, routingYAML, extra string) *ivrdProc {
	t.Helper()
	return startIvrd(t, ivrdOptions{
		Flows:  "testdata/flows-agents",
		HTTP:   usersYAML,
		Config: "routing:\n" + routingYAML + extra,
	})
}

// setState sets an agent's state with its own token, as its desk does.
func (p *ivrdProc) setState(t testing.TB, token, state string) {
	t.Helper()
	code, body := p.api(t, "POST", token, "/api/agent/state", strings.NewReader(`{"state":"`+state+`"}`))
	if code != http.StatusOK {
		t.Fatalf("set agent state %s: status %d: %s", state, code, body)
	}
}

// agentStatus is an agent as GET /api/agent gives it.
type agentStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

func (p *ivrdProc) agentState(t testing.TB, token string) string {
	t.Helper()
	code, body := p.api(t, "GET", token, "/api/agent", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/agent: status %d: %s", code, body)
	}
	var a agentStatus
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("GET /api/agent: %v: %s", err, body)
	}
	return a.State
}

// dialTone calls service on ivrd (or target) sending a tone of hz as its
// voice; it records what it receives. The call is closed when the test
// ends.
func dialTone(t testing.TB, target, service, user string, hz float64) *rawCall {
	t.Helper()
	server, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	ua, err := siptest.NewUA(server.AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call, err := ua.Invite(ctx, service, siptest.WithUser(user), siptest.WithTone(hz))
	if err != nil {
		ua.Close()
		t.Fatalf("call %s: %v", service, err)
	}
	c := &rawCall{Call: call}
	t.Cleanup(func() {
		c.Close()
		c.wg.Wait()
		ua.Close()
	})
	c.wg.Add(1)
	go c.record()
	return c
}

// press sends keys as RFC 4733 events, one after the other.
func (c *rawCall) press(t testing.TB, keys string) {
	t.Helper()
	for _, k := range keys {
		if _, err := c.SendDTMF(context.Background(), k, 5); err != nil {
			t.Fatalf("press %c: %v", k, err)
		}
		time.Sleep(60 * time.Millisecond)
	}
}

// audioSince decodes the μ-law audio received since at.
func (c *rawCall) audioSince(at time.Time) (samples []int16, packets int) {
	for _, p := range c.packets() {
		if p.At.Before(at) || p.PayloadType != 0 {
			continue
		}
		buf := make([]int16, len(p.Payload))
		media.DecodeUlaw(buf, p.Payload)
		samples = append(samples, buf...)
		packets++
	}
	return samples, packets
}

// waitAgent waits until the call record of the caller says an agent took
// the call, and returns it.
func (p *ivrdProc) waitAgent(t testing.TB, driver, caller string, timeout time.Duration) *ivr.CallRecord {
	t.Helper()
	return p.waitCallBy(t, driver, caller, timeout, func(r *ivr.CallRecord) bool {
		return r.Agent != "" || r.EndedAt != nil
	})
}

// checkConversation checks a finished call record: the agent, the parts'
// lengths, who hung up.
func checkConversation(t testing.TB, rec *ivr.CallRecord, agent, endedBy string) {
	t.Helper()
	if rec.Outcome != ivr.OutcomeConnected || rec.Agent != agent || rec.EndedBy != endedBy {
		t.Errorf("record: outcome %q agent %q ended by %q, want connected to %s, ended by %s; %s",
			rec.Outcome, rec.Agent, rec.EndedBy, agent, endedBy, dump(rec))
	}
	if rec.QueuedAt == nil || rec.ConnectedAt == nil || rec.EndedAt == nil {
		t.Fatalf("record misses times: queued %v connected %v ended %v", rec.QueuedAt, rec.ConnectedAt, rec.EndedAt)
	}
	ivrPart := rec.QueuedAt.Sub(rec.StartedAt)
	wait := rec.ConnectedAt.Sub(*rec.QueuedAt)
	talk := rec.EndedAt.Sub(*rec.ConnectedAt)
	if ivrPart <= 0 || rec.Talk < minTalk || absDur(rec.QueueWait-wait) > 200*time.Millisecond || absDur(rec.Talk-talk) > 200*time.Millisecond {
		t.Errorf("parts: ivr %v, wait %v (record %v), talk %v (record %v); want talk >= %v",
			ivrPart, wait, rec.QueueWait, talk, rec.Talk, minTalk)
	}
	b, _ := json.Marshal(rec)
	for _, k := range []string{`"ivr_seconds"`, `"queue_wait_seconds"`, `"talk_seconds"`, `"agent":"` + agent + `"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("record JSON lacks %s: %s", k, b)
		}
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// checkTone fails unless samples hold at least d of the tone of hz.
func checkTone(t testing.TB, what string, samples []int16, hz float64, d time.Duration) {
	t.Helper()
	if len(samples) < int(d.Seconds()*8000) {
		t.Errorf("%s: %d samples, want at least %v of audio", what, len(samples), d)
		return
	}
	if share := siptest.ToneShare(samples, hz); share < 0.8 {
		t.Errorf("%s: %.0f Hz makes %.2f of the energy, want most of it (level %.0f)", what, hz, share, siptest.Level(samples))
	}
}

// checkRecordedConversation fetches the call's recording and checks it is
// stereo with the caller's tone on the left and the agent's on the right
// for at least minTalk.
func (p *ivrdProc) checkRecordedConversation(t testing.TB, token, callID string) {
	t.Helper()
	r := p.waitRecording(t, token, callID, 15*time.Second)
	path := p.download(t, token, r.ID)
	left, right := stereoWAV(t, path)
	// The conversation is the end of the recording (the IVR part comes
	// first): take its last minTalk.
	n := int(minTalk.Seconds() * 8000)
	if len(left) < n {
		t.Fatalf("recording %s: %d frames, want at least %v", r.ID, len(left), minTalk)
	}
	// Leave out the last half second, where either may have hung up.
	end := len(left) - 4000
	checkTone(t, "recording, left (caller)", left[end-n+4000:end], callerHz, minTalk-500*time.Millisecond)
	checkTone(t, "recording, right (agent)", right[end-n+4000:end], agentHz, minTalk-500*time.Millisecond)
}

// stereoWAV reads a 16-bit stereo WAV.
func stereoWAV(t testing.TB, path string) (left, right []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s is not a WAV file", path)
	}
	var channels, bits uint16
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:off+8]))
		body := b[off+8 : min(off+8+size, len(b))]
		switch id {
		case "fmt ":
			channels, bits = binary.LittleEndian.Uint16(body[2:4]), binary.LittleEndian.Uint16(body[14:16])
		case "data":
			if channels != 2 || bits != 16 {
				t.Fatalf("%s: %d channels of %d bits, want 16-bit stereo", path, channels, bits)
			}
			for i := 0; i+4 <= len(body); i += 4 {
				left = append(left, int16(binary.LittleEndian.Uint16(body[i:])))
				right = append(right, int16(binary.LittleEndian.Uint16(body[i+2:])))
			}
			return left, right
		}
		off += 8 + size + size%2
	}
	t.Fatalf("%s: no data chunk", path)
	return nil, nil
}

// startPhone starts a baresip softphone answering as an agent (answer
// "auto" or "manual").
func startPhone(t *testing.T, user, answer string) *siptest.Baresip {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := siptest.StartBaresip(ctx, siptest.BaresipConfig{Dir: t.TempDir(), User: user, Tone: agentHz, Answer: answer})
	if err != nil {
		cancel()
		t.Fatalf("start baresip %s: %v", user, err)
	}
	t.Cleanup(func() {
		b.Close()
		cancel()
		if t.Failed() {
			t.Logf("baresip %s:\n%s", user, tail(b.Output(), 4000))
		}
	})
	return b
}

// TestAgentPhone: a caller presses 1 and waits; alice, available, is
// offered the call, her phone (baresip answering by itself) rings and
// answers; caller and agent hear each other for more than 3 s; alice hangs
// up. The call record names her and times each part; the recording has the
// caller on the left and alice on the right.
func TestAgentPhone(t *testing.T) {
	t.Parallel()
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "admin", "agent-alice")
	p := startAgentsIvrd(t, usersYAML, fmt.Sprintf(`  offer_timeout: 10s
  wrap_up: 1s
  agents:
    - {name: agent-alice, phone: "%s", skills: {technique: 2}, languages: [fr]}
`, phone.URI()), "")
	alice := users["agent-alice"].token
	p.setState(t, alice, "available")

	caller := dialTone(t, p.sipAddr, serviceAgents, "0611000001", callerHz)
	caller.press(t, "1")
	rec := p.waitAgent(t, "sip", "0611000001", 30*time.Second)
	if rec.Agent != "agent-alice" {
		t.Fatalf("call not taken by alice: %s", dump(rec))
	}
	connected := time.Now()
	if st := p.agentState(t, alice); st != "busy" {
		t.Errorf("alice is %q during the call, want busy", st)
	}
	time.Sleep(minTalk + 2*time.Second)

	// alice hangs up: ivrd hangs up the caller.
	if err := phone.Command("b"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-caller.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller was not hung up after the agent")
	}
	rec = p.waitCall(t, rec.ID, 10*time.Second, ended)
	checkConversation(t, rec, "agent-alice", ivr.EndedByAgent)

	heard, packets := caller.audioSince(connected.Add(500 * time.Millisecond))
	if packets < int(minTalk/(20*time.Millisecond)) {
		t.Errorf("the caller got %d RTP packets from the agent, want %v of them", packets, minTalk)
	}
	checkTone(t, "the caller hears", heard, agentHz, minTalk)
	if err := phone.Close(); err != nil {
		t.Logf("close baresip: %v", err)
	}
	calls, err := phone.Received()
	if err != nil || len(calls) != 1 {
		t.Fatalf("baresip recorded %d calls (%v), want 1", len(calls), err)
	}
	got := calls[0]
	if len(got) > 8000 {
		got = got[4000 : len(got)-4000] // leave out the edges
	}
	checkTone(t, "the agent hears", got, callerHz, minTalk)
	p.checkRecordedConversation(t, users["admin"].token, rec.ID)

	// After the wrap-up, alice is available again.
	if !waitFor(5*time.Second, func() bool { return p.agentState(t, alice) == "available" }) {
		t.Errorf("alice is %q after the wrap-up, want available", p.agentState(t, alice))
	}
}

// TestAgentBrowser: carol works in the desk, in headless Chromium. A caller
// presses 2 and types an account number; the desk shows the offer with its
// screen-pop before carol accepts; she accepts, her browser and the caller
// hear each other over WebRTC for more than 3 s, and she hangs up from the
// desk.
func TestAgentBrowser(t *testing.T) {
	t.Parallel()
	users, usersYAML := newUsers(t, "admin", "agent-carol")
	p := startAgentsIvrd(t, usersYAML, `  offer_timeout: 20s
  wrap_up: 2s
  agents:
    - {name: agent-carol, skills: {facturation: 1}, languages: [fr]}
`, "")
	mic := t.TempDir() + "/mic.wav"
	if out, err := exec.Command("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", mic,
		"synth", "60", "sine", fmt.Sprint(agentHz), "vol", "0.3").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	page := webtest.Start(t, webtest.WithFakeAudio(mic)).NewPage(t)
	page.OpenDesk(p.httpURL, users["agent-carol"].token)
	page.Click("#btn-available")
	page.WaitText("#agent-state", "Disponible")

	caller := dialTone(t, p.sipAddr, serviceAgents, "0622000002", callerHz)
	caller.press(t, "2123456#")

	// The screen-pop, before carol accepts.
	page.WaitVisible("#offer")
	for sel, want := range map[string]string{
		"#offer .pop-intent":               "contester_facture",
		"#offer .pop-queue":                "facturation",
		"#offer .pop-caller":               "0622000002",
		"#offer .pop-consent":              "Acceptée",
		"#offer .pop-language":             "fr",
		`#offer [data-var="account"]`:      "123456",
		`#offer .pop-path li:nth-child(2)`: "motif",
	} {
		page.WaitText(sel, want)
	}
	page.Click("#btn-accept")
	rec := p.waitAgent(t, "sip", "0622000002", 20*time.Second)
	if rec.Agent != "agent-carol" {
		t.Fatalf("call not taken by carol: %s", dump(rec))
	}
	connected := time.Now()
	st := page.WaitPeerStats(webtest.DeskPeer, "the caller's audio for 3 s", func(s webtest.RTCStats) bool {
		return s.PacketsReceived >= int64(minTalk/(20*time.Millisecond)) && s.TotalAudioEnergy > 0 && s.PacketsSent >= 150
	})
	t.Logf("browser: %s in, %s out, %d packets in, %d out, energy %.3f, via %s", st.InboundCodec, st.OutboundCodec,
		st.PacketsReceived, st.PacketsSent, st.TotalAudioEnergy, st.RemoteAddress)
	time.Sleep(time.Second)

	page.Click("#conversations .hangup")
	select {
	case <-caller.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller was not hung up after the agent")
	}
	rec = p.waitCall(t, rec.ID, 10*time.Second, ended)
	checkConversation(t, rec, "agent-carol", ivr.EndedByAgent)
	heard, packets := caller.audioSince(connected.Add(500 * time.Millisecond))
	if packets < int(minTalk/(20*time.Millisecond)) {
		t.Errorf("the caller got %d RTP packets from the browser, want %v of them", packets, minTalk)
	}
	checkTone(t, "the caller hears", heard, agentHz, minTalk)
	page.WaitVisible("#wrapup")
	p.checkRecordedConversation(t, users["admin"].token, rec.ID)
}

// TestAgentsUnderAsterisk: the same two ways to an agent when Asterisk
// answers the caller and hands the call to ivrd over ARI: alice's phone
// rung through Asterisk's agents endpoint, and carol in the desk, whose
// WebRTC leg joins the caller's mixing bridge through an ExternalMedia
// channel. Each time audio flows both ways and the agent hangs up.
func TestAgentsUnderAsterisk(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "admin", "agent-alice", "agent-carol")
	p := startAgentsIvrd(t, usersYAML, fmt.Sprintf(`  offer_timeout: 20s
  wrap_up: 1s
  agents:
    - {name: agent-alice, phone: "%s", skills: {technique: 1}, languages: [fr]}
    - {name: agent-carol, skills: {facturation: 1}, languages: [fr]}
`, phone.URI()), fmt.Sprintf(`ari:
  enabled: true
  url: %s
  user: %s
  password: %q
  app: %s
  reconnect_min: 100ms
  reconnect_max: 1s
`, ast.ARIURL, ast.User, ast.Password, ast.App))
	waitStasisApp(t, ast)
	admin := users["admin"].token

	t.Run("phone", func(t *testing.T) {
		p.setState(t, users["agent-alice"].token, "available")
		caller := dialTone(t, ast.SIPAddr, serviceAgents, "0633000003", callerHz)
		caller.press(t, "1")
		rec := p.waitAgent(t, "ari", "0633000003", 30*time.Second)
		if rec.Agent != "agent-alice" {
			t.Fatalf("call not taken by alice: %s", dump(rec))
		}
		connected := time.Now()
		time.Sleep(minTalk + 2*time.Second)
		if err := phone.Command("b"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-caller.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the caller was not hung up after the agent")
		}
		rec = p.waitCall(t, rec.ID, 10*time.Second, ended)
		checkConversation(t, rec, "agent-alice", ivr.EndedByAgent)
		heard, _ := caller.audioSince(connected.Add(500 * time.Millisecond))
		checkTone(t, "the caller hears", heard, agentHz, minTalk)
		phone.Close()
		calls, err := phone.Received()
		if err != nil || len(calls) != 1 || len(calls[0]) < 8000 {
			t.Fatalf("baresip recorded %d calls (%v), want 1", len(calls), err)
		}
		checkTone(t, "the agent hears", calls[0][4000:len(calls[0])-4000], callerHz, minTalk)
		p.checkRecordedConversation(t, admin, rec.ID)
	})

	t.Run("browser", func(t *testing.T) {
		mic := t.TempDir() + "/mic.wav"
		if out, err := exec.Command("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", mic,
			"synth", "60", "sine", fmt.Sprint(agentHz), "vol", "0.3").CombinedOutput(); err != nil {
			t.Fatalf("sox: %v: %s", err, out)
		}
		page := webtest.Start(t, webtest.WithFakeAudio(mic)).NewPage(t)
		page.OpenDesk(p.httpURL, users["agent-carol"].token)
		page.Click("#btn-available")
		page.WaitText("#agent-state", "Disponible")
		caller := dialTone(t, ast.SIPAddr, serviceAgents, "0633000004", callerHz)
		caller.press(t, "2123456#")
		page.WaitText("#offer .pop-intent", "contester_facture")
		page.Click("#btn-accept")
		rec := p.waitAgent(t, "ari", "0633000004", 20*time.Second)
		if rec.Agent != "agent-carol" {
			t.Fatalf("call not taken by carol: %s", dump(rec))
		}
		connected := time.Now()
		page.WaitPeerStats(webtest.DeskPeer, "the caller's audio for 3 s", func(s webtest.RTCStats) bool {
			return s.PacketsReceived >= int64(minTalk/(20*time.Millisecond)) && s.TotalAudioEnergy > 0
		})
		time.Sleep(time.Second)
		page.Click("#conversations .hangup")
		select {
		case <-caller.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the caller was not hung up after the agent")
		}
		rec = p.waitCall(t, rec.ID, 10*time.Second, ended)
		checkConversation(t, rec, "agent-carol", ivr.EndedByAgent)
		heard, _ := caller.audioSince(connected.Add(500 * time.Millisecond))
		checkTone(t, "the caller hears", heard, agentHz, minTalk)
		p.checkRecordedConversation(t, admin, rec.ID)
	})
}

// TestAgentsOrder: bob has waited longest but lets his phone ring: the
// offer times out, bob goes away and alice takes the call. A billing call
// that only bob could take waits, and when alice is free again she takes
// the technical call that came after it, never the billing one.
func TestAgentsOrder(t *testing.T) {
	t.Parallel()
	alicePhone := startPhone(t, "alice", "auto")
	bobPhone := startPhone(t, "bob", "manual")
	users, usersYAML := newUsers(t, "supervisor", "agent-alice", "agent-bob")
	p := startAgentsIvrd(t, usersYAML, fmt.Sprintf(`  offer_timeout: 3s
  wrap_up: 2s
  no_answer: away
  agents:
    - {name: agent-alice, phone: "%s", skills: {technique: 1}, languages: [fr]}
    - {name: agent-bob, phone: "%s", skills: {technique: 1, facturation: 1}, languages: [fr]}
`, alicePhone.URI(), bobPhone.URI()), "")
	alice, bob := users["agent-alice"].token, users["agent-bob"].token
	p.setState(t, bob, "available")
	time.Sleep(300 * time.Millisecond) // bob is idle the longest
	p.setState(t, alice, "available")

	// B: technical, offered to bob first; his phone rings out.
	b := dialTone(t, p.sipAddr, serviceAgents, "0644000001", callerHz)
	b.press(t, "1")
	recB := p.waitAgent(t, "sip", "0644000001", 40*time.Second)
	if recB.Agent != "agent-alice" {
		t.Fatalf("B taken by %q, want alice after bob's offer timed out: %s", recB.Agent, dump(recB))
	}
	if wait := recB.ConnectedAt.Sub(*recB.QueuedAt); wait < 3*time.Second {
		t.Errorf("B connected %v after queueing, want after bob's 3 s offer", wait)
	}
	if st := p.agentState(t, bob); st != "away" {
		t.Errorf("bob is %q after letting the offer ring out, want away", st)
	}
	if !strings.Contains(bobPhone.Output(), "0644000001") {
		t.Errorf("bob's phone never rang for B:\n%s", bobPhone.Output())
	}

	// A: billing, only bob could take it; C: technical, after A.
	a := dialTone(t, p.sipAddr, serviceAgents, "0644000002", callerHz)
	a.press(t, "21234#")
	p.waitCallBy(t, "sip", "0644000002", 20*time.Second, func(r *ivr.CallRecord) bool { return r.Outcome == ivr.OutcomeQueued })
	c := dialTone(t, p.sipAddr, serviceAgents, "0644000003", callerHz)
	c.press(t, "1")
	p.waitCallBy(t, "sip", "0644000003", 20*time.Second, func(r *ivr.CallRecord) bool { return r.Outcome == ivr.OutcomeQueued })

	// alice hangs up B; after her wrap-up she is offered C, not A.
	if err := alicePhone.Command("b"); err != nil {
		t.Fatal(err)
	}
	hungUp := time.Now()
	recC := p.waitAgent(t, "sip", "0644000003", 20*time.Second)
	if recC.Agent != "agent-alice" {
		t.Fatalf("C taken by %q, want alice: %s", recC.Agent, dump(recC))
	}
	if d := recC.ConnectedAt.Sub(hungUp); d < 1500*time.Millisecond {
		t.Errorf("C connected %v after alice hung up B, want after her 2 s wrap-up", d)
	}
	code, body := p.api(t, "GET", users["supervisor"].token, "/api/board", nil)
	if code != http.StatusOK {
		t.Fatalf("board: %d %s", code, body)
	}
	var board struct {
		Queues []struct {
			Name    string `json:"name"`
			Waiting []struct {
				Caller    string `json:"caller"`
				Position  int    `json:"position"`
				OfferedTo string `json:"offered_to"`
			} `json:"waiting"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(body, &board); err != nil {
		t.Fatal(err)
	}
	var waitingA bool
	for _, q := range board.Queues {
		for _, w := range q.Waiting {
			if w.Caller == "0644000002" {
				waitingA = q.Name == "facturation" && w.Position == 1 && w.OfferedTo == ""
			}
		}
	}
	if !waitingA {
		t.Errorf("A is not first in facturation, unoffered: %s", body)
	}

	// A gives up; nobody ever took it.
	a.Bye(context.Background())
	recA := p.waitCallBy(t, "sip", "0644000002", 10*time.Second, ended)
	if recA.Outcome != ivr.OutcomeAbandoned || recA.Agent != "" {
		t.Errorf("A: outcome %q agent %q, want abandoned with no agent", recA.Outcome, recA.Agent)
	}
	c.Bye(context.Background())
	recC = p.waitCall(t, recC.ID, 10*time.Second, ended)
	if recC.EndedBy != ivr.EndedByCaller {
		t.Errorf("C ended by %q, want the caller", recC.EndedBy)
	}
}

// TestAgentCancelledWhenCallerHangsUp: the caller hangs up while bob's
// phone rings: the phone's call is cancelled, the contact recorded as
// abandoned, and bob is free again.
func TestAgentCancelledWhenCallerHangsUp(t *testing.T) {
	t.Parallel()
	bobPhone := startPhone(t, "bob", "manual")
	users, usersYAML := newUsers(t, "agent-bob")
	p := startAgentsIvrd(t, usersYAML, fmt.Sprintf(`  offer_timeout: 30s
  agents:
    - {name: agent-bob, phone: "%s", skills: {technique: 1}, languages: [fr]}
`, bobPhone.URI()), "")
	bob := users["agent-bob"].token
	p.setState(t, bob, "available")
	caller := dialTone(t, p.sipAddr, serviceAgents, "0655000001", callerHz)
	caller.press(t, "1")
	if !waitFor(20*time.Second, func() bool { return p.agentState(t, bob) == "offered" }) {
		t.Fatalf("bob was never offered the call (state %q)", p.agentState(t, bob))
	}
	if !waitFor(5*time.Second, func() bool { return strings.Contains(bobPhone.Output(), "0655000001") }) {
		t.Fatalf("bob's phone does not ring:\n%s", bobPhone.Output())
	}
	caller.Bye(context.Background())
	rec := p.waitCallBy(t, "sip", "0655000001", 10*time.Second, ended)
	if rec.Outcome != ivr.OutcomeAbandoned || rec.Agent != "" {
		t.Errorf("record: outcome %q agent %q, want abandoned", rec.Outcome, rec.Agent)
	}
	if !waitFor(5*time.Second, func() bool {
		return strings.Contains(bobPhone.Output(), "terminated") || strings.Contains(bobPhone.Output(), "closed")
	}) {
		t.Errorf("bob's phone still rings after the caller hung up:\n%s", bobPhone.Output())
	}
	if !p.logHas("CANCEL") {
		t.Errorf("no CANCEL sent to bob's phone")
	}
	if !waitFor(5*time.Second, func() bool { return p.agentState(t, bob) == "available" }) {
		t.Errorf("bob is %q after the caller left, want available", p.agentState(t, bob))
	}
}

// TestServiceLevel runs a scripted quarter of an hour and checks the
// figures of /api/stats and /metrics against the ones worked out by hand.
// Threshold 4 s, short abandons under 1 s, one agent:
//
//	c1 answered at once                 answered in threshold
//	c2 answered after about 6 s         answered, over the threshold
//	c3 hangs up at once while waiting   short abandon
//	c4 hangs up after about 2.5 s       abandon
//
// offered 4, answered 2 (1 within 4 s), abandoned 2 (1 short): service
// level 1 / (4 - 1) = 0.333, abandon rate 2 / 4 = 0.5, average speed of
// answer about (0 + 6) / 2 = 3 s.
func TestServiceLevel(t *testing.T) {
	t.Parallel()
	phone := startPhone(t, "alice", "auto")
	users, usersYAML := newUsers(t, "supervisor", "agent-alice")
	p := startAgentsIvrd(t, usersYAML, fmt.Sprintf(`  wrap_up: 0s
  service_level: {threshold: 4s, short_abandon: 1s}
  agents:
    - {name: agent-alice, phone: "%s", skills: {technique: 1}, languages: [fr]}
`, phone.URI()), "")
	alice, sup := users["agent-alice"].token, users["supervisor"].token
	queued := func(caller string) *ivr.CallRecord {
		return p.waitCallBy(t, "sip", caller, 30*time.Second, func(r *ivr.CallRecord) bool { return r.Outcome == ivr.OutcomeQueued })
	}
	hangUp := func(c *rawCall, caller string) *ivr.CallRecord {
		c.Bye(context.Background())
		return p.waitCallBy(t, "sip", caller, 10*time.Second, ended)
	}
	var waits []time.Duration

	p.setState(t, alice, "available")
	c1 := dialTone(t, p.sipAddr, serviceAgents, "0666000001", callerHz)
	c1.press(t, "1")
	r1 := p.waitAgent(t, "sip", "0666000001", 30*time.Second)
	waits = append(waits, r1.ConnectedAt.Sub(*r1.QueuedAt))
	time.Sleep(500 * time.Millisecond)
	hangUp(c1, "0666000001")
	if !waitFor(5*time.Second, func() bool { return p.agentState(t, alice) == "available" }) {
		t.Fatal("alice not available after c1")
	}

	p.setState(t, alice, "away")
	c2 := dialTone(t, p.sipAddr, serviceAgents, "0666000002", callerHz)
	c2.press(t, "1")
	queued("0666000002")
	time.Sleep(6 * time.Second)
	p.setState(t, alice, "available")
	r2 := p.waitAgent(t, "sip", "0666000002", 10*time.Second)
	waits = append(waits, r2.ConnectedAt.Sub(*r2.QueuedAt))
	time.Sleep(500 * time.Millisecond)
	hangUp(c2, "0666000002")
	if !waitFor(5*time.Second, func() bool { return p.agentState(t, alice) == "available" }) {
		t.Fatal("alice not available after c2")
	}

	p.setState(t, alice, "away")
	c3 := dialTone(t, p.sipAddr, serviceAgents, "0666000003", callerHz)
	c3.press(t, "1")
	queued("0666000003")
	r3 := hangUp(c3, "0666000003")
	c4 := dialTone(t, p.sipAddr, serviceAgents, "0666000004", callerHz)
	c4.press(t, "1")
	queued("0666000004")
	time.Sleep(2500 * time.Millisecond)
	r4 := hangUp(c4, "0666000004")
	if r3.QueueWait >= time.Second || r4.QueueWait < time.Second || waits[0] >= 4*time.Second || waits[1] <= 4*time.Second {
		t.Fatalf("the script did not run as planned: waits %v, abandons after %v and %v", waits, r3.QueueWait, r4.QueueWait)
	}
	wantASA := (waits[0] + waits[1]).Seconds() / 2

	code, body := p.api(t, "GET", sup, "/api/stats", nil)
	if code != http.StatusOK {
		t.Fatalf("/api/stats: %d %s", code, body)
	}
	var stats struct {
		Intervals []struct {
			Name  string           `json:"name"`
			Total statsFigures     `json:"total"`
			Queue []map[string]any `json:"queues"`
		} `json:"intervals"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range stats.Intervals {
		if in.Name != "15m" && in.Name != "today" {
			continue
		}
		found = true
		got := in.Total
		if got.Offered != 4 || got.Answered != 2 || got.AnsweredInThreshold != 1 || got.Abandoned != 2 || got.ShortAbandoned != 1 ||
			got.ServiceLevel == nil || !near(*got.ServiceLevel, 1.0/3, 0.001) ||
			got.AbandonRate == nil || !near(*got.AbandonRate, 0.5, 0.001) ||
			got.ASA == nil || !near(*got.ASA, wantASA, 0.3) {
			t.Errorf("%s: %s, want offered 4, answered 2 (1 in threshold), abandoned 2 (1 short), SL 0.333, abandon rate 0.5, ASA %.2f",
				in.Name, dump(got), wantASA)
		}
	}
	if !found {
		t.Fatalf("no 15m or today interval: %s", body)
	}

	code, body = p.api(t, "GET", "", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	metrics := string(body)
	for _, want := range []struct {
		sample string
		value  float64
	}{
		{`ivrd_offered_contacts{interval="15m"}`, 4},
		{`ivrd_answered_in_threshold_contacts{interval="15m"}`, 1},
		{`ivrd_service_level_ratio{interval="15m"}`, 1.0 / 3},
		{`ivrd_abandon_rate_ratio{interval="15m"}`, 0.5},
		{`ivrd_queue_service_level_ratio{queue="technique",interval="15m"}`, 1.0 / 3},
		{`ivrd_asa_seconds{interval="15m"}`, wantASA},
		{`ivrd_service_level_threshold_seconds`, 4},
	} {
		v, ok := metricValue(metrics, want.sample)
		if !ok || !near(v, want.value, 0.3) {
			t.Errorf("/metrics %s = %v (found %v), want %.3f", want.sample, v, ok, want.value)
		}
	}
}

// statsFigures are the fields of routing.QueueStats the test checks.
type statsFigures struct {
	Offered             int      `json:"offered"`
	Answered            int      `json:"answered"`
	AnsweredInThreshold int      `json:"answered_in_threshold"`
	Abandoned           int      `json:"abandoned"`
	ShortAbandoned      int      `json:"short_abandoned"`
	ServiceLevel        *float64 `json:"service_level"`
	AbandonRate         *float64 `json:"abandon_rate"`
	ASA                 *float64 `json:"asa_seconds"`
}

func near(a, b, tol float64) bool { return a >= b-tol && a <= b+tol }

// metricValue finds a sample (name with its labels, as written) in a
// Prometheus text exposition.
func metricValue(text, sample string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, sample+" ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest, &v); err == nil {
			return v, true
		}
	}
	return 0, false
}

// TestOperatorKeyOnHold: a caller waiting for a technician presses 0 and
// goes to the general queue; the technical queue records the contact as
// transferred.
func TestOperatorKeyOnHold(t *testing.T) {
	t.Parallel()
	users, usersYAML := newUsers(t, "supervisor")
	p := startAgentsIvrd(t, usersYAML, "  agents: []\n", "")
	caller := dialTone(t, p.sipAddr, serviceAgents, "0677000001", callerHz)
	caller.press(t, "1")
	first := p.waitCallBy(t, "sip", "0677000001", 30*time.Second, func(r *ivr.CallRecord) bool { return r.Queue == "technique" })
	time.Sleep(time.Second)
	caller.press(t, "0")
	rec := p.waitCall(t, first.ID, 10*time.Second, func(r *ivr.CallRecord) bool { return r.Queue == "general" })
	if v, ok := visit(rec, "technique"); !ok || !strings.HasPrefix(v.Result, "operator key after") {
		t.Errorf("technique visit %+v, want left with the operator key", v)
	}
	code, body := p.api(t, "GET", users["supervisor"].token, "/api/queues", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"transferred":1`) {
		t.Errorf("queues summary (status %d) does not count the contact transferred from technique: %s", code, body)
	}
	caller.Bye(context.Background())
	if rec := p.waitCall(t, first.ID, 10*time.Second, ended); rec.Outcome != ivr.OutcomeAbandoned || rec.Queue != "general" {
		t.Errorf("record: outcome %q queue %q, want abandoned in general", rec.Outcome, rec.Queue)
	}
}

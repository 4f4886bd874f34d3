package web

import (
	"flag"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/web/webtest"
)

var screenshots = flag.Bool("screenshots", false, "save screenshots of the desk and the supervisor view under testdata/")

var loopback = netip.MustParseAddr("127.0.0.1")

// newBrowserEnv serves the API on loopback over a fakeDesk on the real
// clock, with a real media.WebRTC for the calls taken in the browser.
func newBrowserEnv(t *testing.T) (*deskEnv, string) {
	t.Helper()
	rtc, err := media.NewWebRTC(media.WebRTCConfig{IPs: []netip.Addr{loopback}, IncludeLoopback: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtc.Close() })
	e := newDeskEnv(t, func(c *Config) { c.WebRTC = WebRTCFrom(rtc) })
	e.desk.now = time.Now
	for _, a := range e.desk.agents {
		a.Since, a.IdleSince = time.Now(), time.Now()
	}
	base, _ := e.serve(t, readTimeout, writeTimeout)
	return e, base
}

// waitingCall is call(id) having waited d until now.
func waitingCall(id string, d time.Duration) routing.ContactView {
	c := call(id)
	c.EnqueuedAt = time.Now().Add(-d)
	c.WaitSeconds = d.Seconds()
	return c
}

func saveScreenshot(p *webtest.Page, name string) {
	if *screenshots {
		p.Screenshot(filepath.Join("testdata", name))
	}
}

// The desk and the supervisor view in Chromium, one browser for all.
func TestBrowser(t *testing.T) {
	b := webtest.Start(t, webtest.WithWindowSize(1200, 1000))
	t.Run("Desk", func(t *testing.T) { testDesk(t, b) })
	t.Run("PhoneAgent", func(t *testing.T) { testPhoneAgent(t, b) })
	t.Run("Reconnect", func(t *testing.T) { testReconnect(t, b) })
	t.Run("Supervisor", func(t *testing.T) { testSupervisor(t, b) })
}

// An agent signs in to the desk in Chromium, goes available, sees the
// screen-pop of the call offered, turns one down, takes a chat, then takes
// a call in the browser: the audio flows both ways between the browser and
// a caller bridged to its WebRTC leg, until the agent hangs up and wraps
// up.
func testDesk(t *testing.T, b *webtest.Browser) {
	e, base := newBrowserEnv(t)
	p := b.NewPage(t)

	// Sign-in refusals.
	p.Open(base + "/desk")
	p.SignIn("not-a-token")
	p.WaitText("#signin-error", "Jeton refusé")
	p.Eval(`document.getElementById('token').value = ''`, nil)
	p.SignIn(e.tokens["carol"])
	p.WaitText("#signin-error", "carol n'est pas un agent")
	p.Eval(`document.getElementById('token').value = ''`, nil)

	p.SignIn(e.tokens["alice"])
	p.WaitVisible("#desk")
	p.WaitText("#agent-name", "alice")
	p.WaitText("#agent-state", "Déconnecté")
	p.WaitText("#link", "En ligne")
	var stored string
	p.Eval(`sessionStorage.getItem('ivrd-token')`, &stored)
	if stored != e.tokens["alice"] {
		t.Error("token not kept in sessionStorage")
	}

	p.Click("#btn-available")
	p.WaitText("#agent-state", "Disponible")
	if st, _ := e.desk.Agent("alice"); st.State != routing.AgentAvailable {
		t.Fatalf("alice is %s", st.State)
	}
	p.WaitText("#idle-text", "En attente d'un contact")

	// The screen-pop, before accepting.
	e.desk.offer("alice", "o1", waitingCall("c1", 83*time.Second), 15*time.Second)
	p.WaitVisible("#offer")
	p.WaitText("#agent-state", "Contact proposé")
	for sel, want := range map[string]string{
		"#offer-channel":                   "Appel",
		"#offer .pop-intent":               "contester_facture",
		"#offer .pop-queue":                "facturation",
		"#offer .pop-caller":               "+33612345678",
		"#offer .pop-language":             "Français (fr)",
		"#offer .pop-consent":              "Acceptée",
		"#offer [data-var=numero_client]":  "48213",
		"#offer [data-var=montant]":        "129,90",
		"#offer .pop-wait":                 "1:2",
		"#offer-countdown":                 "0:1",
		"#offer .pop-path li:nth-child(3)": "motif: touche 2",
		"#events li:first-child":           "Contact proposé : Appel de +33612345678 (contester_facture)",
		"#btn-accept":                      "Accepter",
		"#btn-reject":                      "Refuser",
	} {
		p.WaitText(sel, want)
	}
	if vars := p.Texts("#offer .pop-vars dt"); strings.Contains(strings.Join(vars, " "), "recording_consent") {
		t.Errorf("the consent is shown among the inputs: %v", vars)
	}
	if p.Visible("#phone-ringing") {
		t.Error("a browser agent is told its phone rings")
	}
	saveScreenshot(p, "desk-offer.png")

	p.Click("#btn-reject")
	p.WaitHidden("#offer")
	p.WaitText("#events li:first-child", "Proposition close : refusée")
	if st, _ := e.desk.Agent("alice"); st.Offer != nil || st.State != routing.AgentAvailable {
		t.Fatalf("after reject: %+v", st)
	}

	// A chat: accepted without audio, hung up, wrap-up, back available.
	e.desk.offer("alice", "o2", chat("c2"), 15*time.Second)
	p.WaitText("#offer-channel", "Chat")
	p.Click("#btn-accept")
	p.WaitVisible("#conversations .conversation")
	p.WaitText("#conversations .conv-caller", "ann@example.com")
	p.WaitText("#agent-state", "En conversation")
	p.Click("#conversations .hangup")
	p.WaitText("#agent-state", "Post-traitement")
	p.WaitVisible("#wrapup")
	p.WaitText("#wrapup-countdown", "0:")
	p.WaitHidden("#conversations")
	p.Click("#btn-end-wrapup")
	p.WaitText("#agent-state", "Disponible")

	// A call taken in the browser.
	e.desk.offer("alice", "o3", waitingCall("c3", 20*time.Second), 15*time.Second)
	p.WaitText("#offer .pop-wait", "0:2")
	p.Click("#btn-accept")
	leg := waitLeg(t, e.desk, "c3")
	caller := newCallerPhone(t)
	relay := caller.bridge(t, leg)
	defer relay.Stop()

	p.WaitVisible("#conversations .conversation")
	p.WaitText("#conversations .call-status", "Audio établi")
	p.WaitText("#conversations .conv-caller", "+33612345678")
	start := time.Now()
	// Three seconds of audio each way: the caller's tone heard in the
	// page, the fake microphone reaching the caller through the leg.
	st := p.WaitPeerStats(webtest.DeskPeer, "3 s of the caller's audio in the page", func(s webtest.RTCStats) bool {
		return s.PacketsReceived >= 150 && s.TotalAudioEnergy > 0
	})
	if st.InboundCodec != "audio/PCMU" || st.OutboundCodec != "audio/PCMU" || st.ConnectionState != "connected" {
		t.Errorf("page stats %+v, want PCMU both ways, connected", st)
	}
	if !strings.HasPrefix(st.RemoteAddress, "127.0.0.1:") {
		t.Errorf("ICE pair to %s, want loopback", st.RemoteAddress)
	}
	for time.Since(start) < 3*time.Second || caller.received.Load() < 150 {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the caller got %d packets from the browser in 15 s", caller.received.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ls := leg.Stats(); ls.PacketsReceived < 150 || ls.PacketsSent < 150 {
		t.Errorf("leg stats %+v, want 150 packets each way", ls)
	}
	if caller.loud.Load() == 0 {
		t.Error("the caller heard only silence from the browser's microphone")
	}
	p.WaitJS(`(() => {
		const [m, s] = document.querySelector('#conversations .talk-timer').textContent.split(':').map(Number);
		return m * 60 + s >= 3;
	})()`, "the talk timer to count 3 s")
	saveScreenshot(p, "desk-call.png")

	p.Click("#conversations .hangup")
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the leg is still up after the agent hung up")
	}
	p.WaitJS(`!window.ivrdDesk.call`, "the page to close its peer connection")
	p.WaitText("#agent-state", "Post-traitement")
	p.WaitText("#events li:first-child", "Conversation terminée : vous avez raccroché")
	p.WaitHidden("#conversations")
	if ended := e.desk.endedContacts(); len(ended) != 2 || ended[1] != "c3" {
		t.Errorf("conversations ended: %v", ended)
	}
	var srcObject bool
	p.Eval(`document.getElementById('remote-audio').srcObject !== null`, &srcObject)
	if srcObject {
		t.Error("the caller's audio is still attached to the page")
	}

	// Reloading keeps the session: the token is in sessionStorage.
	p.Open(base + "/desk")
	p.WaitVisible("#desk")
	p.WaitText("#agent-state", "Post-traitement")
	p.Click("#forget")
	p.WaitVisible("#signin")
	var left *string
	p.Eval(`sessionStorage.getItem('ivrd-token')`, &left)
	if left != nil {
		t.Error("token kept after changing user")
	}
}

// An agent with a phone is told to pick it up; the desk only turns the
// call down.
func testPhoneAgent(t *testing.T, b *webtest.Browser) {
	e, base := newBrowserEnv(t)
	p := b.NewPage(t)
	p.OpenDesk(base, e.tokens["pat"])
	p.Click("#btn-available")
	p.WaitText("#agent-state", "Disponible")
	e.desk.offer("pat", "o1", waitingCall("c1", 5*time.Second), 15*time.Second)
	p.WaitVisible("#phone-ringing")
	p.WaitText("#phone-ringing", "Votre téléphone sonne")
	if p.Visible("#btn-accept") {
		t.Error("Accepter shown to a phone agent")
	}
	p.Click("#btn-reject")
	p.WaitHidden("#offer")
	if st, _ := e.desk.Agent("pat"); st.Offer != nil {
		t.Errorf("offer still there: %+v", st.Offer)
	}
}

// The desk reconnects its event stream when it drops, and shows the offer
// made meanwhile.
func testReconnect(t *testing.T, b *webtest.Browser) {
	e, base := newBrowserEnv(t)
	p := b.NewPage(t)
	p.OpenDesk(base, e.tokens["bob"])
	p.WaitText("#link", "En ligne")
	waitFor(t, func() bool { return e.desk.subscribers("bob") == 1 }, "the desk to subscribe")
	e.desk.mu.Lock()
	for ch := range e.desk.subs["bob"] {
		delete(e.desk.subs["bob"], ch)
		close(ch)
	}
	e.desk.mu.Unlock()
	e.desk.offer("bob", "o1", chat("c1"), time.Minute)
	p.WaitText("#offer .pop-caller", "ann@example.com")
	p.WaitText("#link", "En ligne")
}

// The supervisor view shows the queues, the agents and the figures, and
// follows the changes live.
func testSupervisor(t *testing.T, b *webtest.Browser) {
	e, base := newBrowserEnv(t)
	e.srv.timings.boardEvery = 500 * time.Millisecond
	e.desk.stats = sampleStats()
	first, second := waitingCall("c1", 95*time.Second), waitingCall("c2", 30*time.Second)
	second.Caller = "+33155550000"
	e.desk.setBoard([]routing.QueueBoard{{
		Name: "facturation", LongestWaitSeconds: 95, Agents: map[string]int{"available": 1, "busy": 1},
		Waiting: []routing.PositionedWait{
			{WaitingContact: first.WaitingContact, Position: 1, EWTSeconds: 10, OfferedTo: "alice"},
			{WaitingContact: second.WaitingContact, Position: 2, EWTSeconds: 70},
		},
	}})
	e.desk.SetAgentState(t.Context(), "alice", routing.AgentAvailable)
	e.desk.offer("alice", "o1", first, 15*time.Second)

	p := b.NewPage(t)
	p.Open(base + "/supervisor")
	p.SignIn(e.tokens["alice"])
	p.WaitText("#signin-error", "la supervision demande le rôle supervisor ou admin")
	p.Eval(`document.getElementById('token').value = ''`, nil)
	p.SignIn(e.tokens["sam"])
	p.WaitVisible("#board")
	p.WaitText("#link", "En direct")

	q := `#queues .queue[data-queue="facturation"]`
	for sel, want := range map[string]string{
		q + " .queue-waiting":                                "2",
		q + " .queue-longest":                                "1:3",
		q + " tbody tr:nth-child(1) .position":               "1",
		q + " tbody tr:nth-child(1) .offered-to":             "alice",
		q + " tbody tr:nth-child(2) .caller":                 "+33155550000",
		q + " tbody tr:nth-child(2) .wait":                   "0:3",
		q + " .queue-agents":                                 "Disponible : 1",
		`#agents tr[data-agent="alice"] .state`:              "Contact proposé",
		`#agents tr[data-agent="pat"] .device`:               "Téléphone",
		`#agents tr[data-agent="bob"] .state`:                "Déconnecté",
		`#stats tr[data-queue="facturation"] .service-level`: "80,0 %",
		`#stats tr[data-queue="facturation"] .asa`:           "43 s",
		`#stats tr[data-queue="Total"] .offered`:             "15",
		"#threshold":                                         "moins de 90 s",
	} {
		p.WaitText(sel, want)
	}
	saveScreenshot(p, "supervisor.png")

	// Live: an agent's state and a new contact, without reloading.
	e.desk.SetAgentState(t.Context(), "bob", routing.AgentAway)
	p.WaitText(`#agents tr[data-agent="bob"] .state`, "En pause")
	third := waitingCall("c3", time.Second)
	third.Caller = "+33299990000"
	e.desk.setBoard([]routing.QueueBoard{{Name: "facturation", LongestWaitSeconds: 96,
		Waiting: []routing.PositionedWait{
			{WaitingContact: first.WaitingContact, Position: 1},
			{WaitingContact: second.WaitingContact, Position: 2},
			{WaitingContact: third.WaitingContact, Position: 3},
		}}})
	p.WaitText(q+" .queue-waiting", "3")
	p.WaitText(q+" tbody tr:nth-child(3) .caller", "+33299990000")
}

// waitLeg waits for the router to get the browser's leg for a contact.
func waitLeg(t *testing.T, d *fakeDesk, contactID string) *media.WebRTCLeg {
	t.Helper()
	var leg *media.WebRTCLeg
	waitFor(t, func() bool {
		l, ok := d.leg(contactID).(*media.WebRTCLeg)
		leg = l
		return ok
	}, "the accepted call's leg")
	return leg
}

// callerPhone is the caller's side of a call bridged to the agent: a media
// session of ivrd's whose far end is a UDP socket of the test sending a
// 600 Hz tone and counting what comes back.
type callerPhone struct {
	conn     *net.UDPConn
	endpoint *media.Endpoint
	session  *media.Session
	received atomic.Int64 // RTP packets from ivrd
	loud     atomic.Int64 // of which carried sound
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newCallerPhone(t *testing.T) *callerPhone {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := media.NewEndpoint(media.EndpointConfig{IP: loopback, PortMin: 42000, PortMax: 42998, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ep.NewSession(quiet)
	if err != nil {
		t.Fatal(err)
	}
	c := &callerPhone{conn: conn, endpoint: ep, session: s, stop: make(chan struct{})}
	t.Cleanup(c.close)
	if err := s.Start(conn.LocalAddr().(*net.UDPAddr).AddrPort(), media.CodecPCMU, 101); err != nil {
		t.Fatal(err)
	}
	c.wg.Go(c.send)
	c.wg.Go(c.receive)
	return c
}

// bridge bridges the caller to the agent's leg, as the engine does.
func (c *callerPhone) bridge(t *testing.T, leg *media.WebRTCLeg) *media.Relay {
	t.Helper()
	r, err := media.Bridge(c.session, leg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (c *callerPhone) send() {
	dst := c.session.LocalAddr()
	pcm := make([]int16, 160)
	buf := make([]byte, media.RTPHeaderSize+160)
	start := time.Now()
	for j := 0; ; j++ {
		for i := range pcm {
			n := j*160 + i
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*600*float64(n)/8000))
		}
		h := media.RTPHeader{PayloadType: 0, SequenceNumber: uint16(j), Timestamp: uint32(j * 160), SSRC: 0x600}
		h.MarshalTo(buf)
		media.EncodeUlaw(buf[media.RTPHeaderSize:], pcm)
		if _, err := c.conn.WriteToUDPAddrPort(buf, dst); err != nil {
			return
		}
		select {
		case <-c.stop:
			return
		case <-time.After(time.Until(start.Add(time.Duration(j+1) * 20 * time.Millisecond))):
		}
	}
}

func (c *callerPhone) receive() {
	buf := make([]byte, 1500)
	pcm := make([]int16, 1500)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			return
		}
		h, payload, err := media.ParseRTP(buf[:n])
		if err != nil || h.PayloadType != 0 {
			continue
		}
		c.received.Add(1)
		m := media.DecodeUlaw(pcm, payload)
		var energy float64
		for _, v := range pcm[:m] {
			energy += float64(v) * float64(v)
		}
		if m > 0 && math.Sqrt(energy/float64(m)) > 100 {
			c.loud.Add(1)
		}
	}
}

func (c *callerPhone) close() {
	close(c.stop)
	c.conn.Close()
	c.wg.Wait()
	c.session.Close()
	c.endpoint.Close()
}

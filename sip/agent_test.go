package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
)

// dialCall is a caller's call whose handler rings an agent's phone: the
// test gets the leg, and the handler returns when release is closed or
// the call ends.
type dialCall struct {
	s       *Server
	caller  *rawClient
	callID  string
	branch  string
	leg     ivr.Ringing
	err     error
	release chan struct{}
	handled chan struct{}
}

func testContact() ivr.Contact {
	return ivr.Contact{ID: "c-42", Queue: "billing", Caller: "+33612345678", Intent: "invoice"}
}

// startDial places a caller's call (answered when answer is set) whose
// handler dials r.
func startDial(t *testing.T, r ivr.DialRequest, answer bool, opts ...func(*Config)) *dialCall {
	t.Helper()
	d := &dialCall{release: make(chan struct{}), handled: make(chan struct{})}
	dialled := make(chan struct{})
	d.s = startServer(t, func(ctx context.Context, call ivr.Call) {
		defer close(d.handled)
		if answer {
			if err := call.Answer(ctx); err != nil {
				d.err = err
				close(dialled)
				return
			}
		}
		d.leg, d.err = call.(ivr.Dialer).Dial(ctx, r)
		close(dialled)
		select {
		case <-ctx.Done():
		case <-d.release:
		}
	}, opts...)
	d.caller = newRawClient(t, d.s)
	d.callID = "dial-" + t.Name()
	d.branch = d.caller.invite(d.callID)
	if answer {
		res := d.caller.final(d.callID, 3*time.Second)
		if res == nil || res.StatusCode != 200 {
			t.Fatalf("caller INVITE: %v", res)
		}
		d.caller.ack(res, d.branch)
	}
	select {
	case <-dialled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not dial")
	}
	return d
}

// end lets the handler return and waits for the server to be idle. A
// caller that was never answered gets 480 and acknowledges it.
func (d *dialCall) end(t *testing.T, answered bool) {
	t.Helper()
	close(d.release)
	if !answered {
		if res := d.caller.final(d.callID, 5*time.Second); res != nil {
			d.caller.ack(res, d.branch)
			settle()
		}
	} else if bye := d.caller.request(sipmsg.BYE, 5*time.Second); bye != nil {
		d.caller.respondOK(bye)
	}
	waitIdle(t, d.s)
}

func waitDone(t *testing.T, l ivr.Leg, timeout time.Duration) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(timeout):
		t.Fatalf("leg not done within %v", timeout)
	}
}

func waitAnswered(t *testing.T, r ivr.Ringing, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.Answered():
	case <-r.Done():
		t.Fatalf("leg ended without answer: %v", r.Err())
	case <-time.After(timeout):
		t.Fatalf("leg not answered within %v", timeout)
	}
}

// TestDialAnswer: 180 then 200. The INVITE leaves from ivrd's UDP
// listener with the caller's number, a display name, the contact's
// headers and a G.711 offer; the leg is answered once the ACK is out, and
// Hangup sends BYE.
func TestDialAnswer(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{ID: "o1", Agent: "alice", Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, true)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	t.Logf("INVITE:\n%s", inv)
	if got, want := from.String(), d.s.Addr("udp").String(); got != want {
		t.Errorf("INVITE came from %s, want the listener %s", got, want)
	}
	if via := inv.Via(); via.Host != "127.0.0.1" || via.Port != d.s.Addr("udp").(*net.UDPAddr).Port {
		t.Errorf("Via sent-by %s:%d, want the listener", via.Host, via.Port)
	}
	if f := inv.From(); f.Address.User != "+33612345678" || f.DisplayName != "+33612345678 - invoice" || f.Address.Host != "127.0.0.1" {
		t.Errorf("From = %s", f.Value())
	}
	if c := inv.Contact(); c.Address.Port != d.s.Addr("udp").(*net.UDPAddr).Port {
		t.Errorf("Contact = %s, want the UDP listener", c.Value())
	}
	for name, want := range map[string]string{HeaderContactID: "c-42", HeaderQueue: "billing", HeaderIntent: "invoice"} {
		if h := inv.GetHeader(name); h == nil || h.Value() != want {
			t.Errorf("%s = %v, want %q", name, h, want)
		}
	}
	offer, err := parseSDP(inv.Body())
	if err != nil {
		t.Fatalf("offer: %v", err)
	}
	if len(offer.Formats) != 3 || offer.Formats[0] != ptPCMU || offer.Formats[1] != ptPCMA || offer.EventPT != ptTelephoneEvent {
		t.Errorf("offer formats %v event %d, want PCMU PCMA and telephone-event", offer.Formats, offer.EventPT)
	}

	p.respond(inv, from, 180, "Ringing", nil)
	time.Sleep(100 * time.Millisecond)
	select {
	case <-d.leg.Answered():
		t.Fatal("answered on 180")
	default:
	}
	ok := p.respond(inv, from, 200, "OK", p.sdp("sendrecv"))
	ack, _ := p.request(sipmsg.ACK, 3*time.Second)
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo || ack.To().Value() != ok.To().Value() {
		t.Errorf("ACK %s with To %s; want CSeq %d and the 200's To", ack.CSeq().Value(), ack.To().Value(), inv.CSeq().SeqNo)
	}
	waitAnswered(t, d.leg, 3*time.Second)

	hung := make(chan error, 1)
	go func() { hung <- d.leg.Hangup(context.Background(), "agent done") }()
	bye, from := p.request(sipmsg.BYE, 3*time.Second)
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "agent done") {
		t.Errorf("BYE Reason = %v", r)
	}
	if bye.To().Value() != ok.To().Value() {
		t.Errorf("BYE To %s, want %s", bye.To().Value(), ok.To().Value())
	}
	p.respond(bye, from, 200, "OK", nil)
	if err := <-hung; err != nil {
		t.Errorf("hangup: %v", err)
	}
	waitDone(t, d.leg, time.Second)
	if err := d.leg.Err(); err != nil {
		t.Errorf("Err after answer = %v, want nil", err)
	}
	if err := d.leg.Hangup(context.Background(), "again"); err != nil {
		t.Errorf("second hangup: %v", err)
	}
	d.end(t, true)
}

// TestDialRefused: final responses other than 2xx say why the agent did
// not take the call.
func TestDialRefused(t *testing.T) {
	tests := []struct {
		code int
		want error
	}{
		{486, ivr.ErrAgentBusy},
		{600, ivr.ErrAgentBusy},
		{603, ivr.ErrAgentDeclined},
		{403, ivr.ErrAgentDeclined},
		{480, ivr.ErrAgentNoAnswer},
		{408, ivr.ErrAgentNoAnswer},
		{487, ivr.ErrAgentNoAnswer},
		{404, nil},
		{503, nil},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			p := newPhone(t)
			d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, false)
			if d.err != nil {
				t.Fatalf("dial: %v", d.err)
			}
			inv, from := p.request(sipmsg.INVITE, 3*time.Second)
			p.respond(inv, from, 180, "Ringing", nil)
			p.respond(inv, from, tt.code, "No", nil)
			// The transaction acknowledges the failure itself.
			if ack, _ := p.request(sipmsg.ACK, 3*time.Second); branchOf(ack) != branchOf(inv) {
				t.Errorf("ACK of %d has another branch", tt.code)
			}
			waitDone(t, d.leg, 3*time.Second)
			err := d.leg.Err()
			switch {
			case err == nil:
				t.Fatalf("Err = nil after %d", tt.code)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Err = %v, want %v", err, tt.want)
			case tt.want == nil && (errors.Is(err, ivr.ErrAgentBusy) || errors.Is(err, ivr.ErrAgentDeclined) || errors.Is(err, ivr.ErrAgentNoAnswer)):
				t.Errorf("Err = %v, want a plain failure", err)
			}
			select {
			case <-d.leg.Answered():
				t.Error("answered")
			default:
			}
			d.end(t, false)
		})
	}
}

// TestDialDigest: a 407 or 401 challenge is answered once with the
// configured credentials; a second challenge fails the leg, as does one
// without credentials configured.
func TestDialDigest(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		password string // configured
		accept   bool   // the phone takes the credentials
		want     error  // nil: answered
	}{
		{"407 accepted", 407, "s3cret", true, nil},
		{"401 accepted", 401, "s3cret", true, nil},
		{"407 refused", 407, "wrong", false, ErrAgentAuth},
		{"401 without credentials", 401, "", false, ErrAgentAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPhone(t)
			d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, false,
				func(c *Config) { c.AgentAuth = Credentials{Username: "ivrd", Password: tt.password} })
			if d.err != nil {
				t.Fatalf("dial: %v", d.err)
			}
			challenge, authz := "WWW-Authenticate", "Authorization"
			if tt.code == 407 {
				challenge, authz = "Proxy-Authenticate", "Proxy-Authorization"
			}
			chal := sipmsg.NewHeader(challenge, `Digest realm="pbx",nonce="n0nce",algorithm=MD5,qop="auth"`)
			inv, from := p.request(sipmsg.INVITE, 3*time.Second)
			p.respond(inv, from, tt.code, "Authenticate", nil, chal)
			p.request(sipmsg.ACK, 3*time.Second)
			if tt.password == "" {
				waitDone(t, d.leg, 3*time.Second)
				if err := d.leg.Err(); !errors.Is(err, tt.want) {
					t.Errorf("Err = %v, want %v", err, tt.want)
				}
				p.quiet(sipmsg.INVITE, 300*time.Millisecond)
				d.end(t, false)
				return
			}
			inv2, from := p.request(sipmsg.INVITE, 3*time.Second)
			h := inv2.GetHeader(authz)
			if h == nil {
				t.Fatalf("second INVITE without %s", authz)
			}
			params := digestParams(h.Value())
			if params["username"] != "ivrd" || params["realm"] != "pbx" || params["nonce"] != "n0nce" {
				t.Errorf("%s = %s", authz, h.Value())
			}
			if got, want := params["response"], digestResponse(params, "s3cret"); (got == want) != tt.accept {
				t.Errorf("digest response %s, correct %s; password %q", got, want, tt.password)
			}
			if inv2.CSeq().SeqNo <= inv.CSeq().SeqNo || inv2.CallID().Value() != inv.CallID().Value() {
				t.Errorf("authenticated INVITE CSeq %d Call-ID %s after %d %s", inv2.CSeq().SeqNo, inv2.CallID().Value(), inv.CSeq().SeqNo, inv.CallID().Value())
			}
			if !tt.accept {
				p.respond(inv2, from, tt.code, "Authenticate", nil, chal)
				p.request(sipmsg.ACK, 3*time.Second)
				waitDone(t, d.leg, 3*time.Second)
				if err := d.leg.Err(); !errors.Is(err, tt.want) {
					t.Errorf("Err = %v, want %v", err, tt.want)
				}
				p.quiet(sipmsg.INVITE, 300*time.Millisecond)
				d.end(t, false)
				return
			}
			p.respond(inv2, from, 180, "Ringing", nil)
			p.respond(inv2, from, 200, "OK", p.sdp("sendrecv"))
			ack, _ := p.request(sipmsg.ACK, 3*time.Second)
			if ack.CSeq().SeqNo != inv2.CSeq().SeqNo {
				t.Errorf("ACK CSeq %d, want %d", ack.CSeq().SeqNo, inv2.CSeq().SeqNo)
			}
			waitAnswered(t, d.leg, 3*time.Second)
			// The caller's call ends: the driver hangs up the agent.
			close(d.release)
			bye, from := p.request(sipmsg.BYE, 5*time.Second)
			p.respond(bye, from, 200, "OK", nil)
			waitDone(t, d.leg, 3*time.Second)
			if res := d.caller.final(d.callID, 5*time.Second); res != nil {
				d.caller.ack(res, d.branch)
				settle()
			}
			waitIdle(t, d.s)
		})
	}
}

// TestDialNoAnswer: the phone rings past the timeout: CANCEL, 487, and
// ErrAgentNoAnswer.
func TestDialNoAnswer(t *testing.T) {
	p := newPhone(t)
	start := time.Now()
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 500 * time.Millisecond}, false)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 180, "Ringing", nil)
	cancel, cfrom := p.request(sipmsg.CANCEL, 3*time.Second)
	if since := time.Since(start); since < 450*time.Millisecond {
		t.Errorf("CANCEL after %v, before the timeout", since)
	}
	if branchOf(cancel) != branchOf(inv) || cancel.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Errorf("CANCEL does not match the INVITE: %s", cancel.String())
	}
	p.respond(cancel, cfrom, 200, "OK", nil)
	select {
	case <-d.leg.Done():
		t.Fatal("leg ended before the 487")
	case <-time.After(100 * time.Millisecond):
	}
	p.respond(inv, from, 487, "Request Terminated", nil)
	p.request(sipmsg.ACK, 3*time.Second)
	waitDone(t, d.leg, 3*time.Second)
	if err := d.leg.Err(); !errors.Is(err, ivr.ErrAgentNoAnswer) {
		t.Errorf("Err = %v, want %v", err, ivr.ErrAgentNoAnswer)
	}
	d.end(t, false)
}

// TestDialUnreachable: a phone that never responds is given up at the
// timeout without CANCEL (RFC 3261 section 9.1), as no answer.
func TestDialUnreachable(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 300 * time.Millisecond}, false)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	p.request(sipmsg.INVITE, 3*time.Second)
	waitDone(t, d.leg, 2*time.Second)
	if err := d.leg.Err(); !errors.Is(err, ivr.ErrAgentNoAnswer) {
		t.Errorf("Err = %v, want %v", err, ivr.ErrAgentNoAnswer)
	}
	p.quiet(sipmsg.CANCEL, 700*time.Millisecond)
	d.end(t, false)
}

// TestDialHangupRinging: Hangup while the phone rings sends CANCEL and
// returns once the 487 came.
func TestDialHangupRinging(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, true)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 100, "Trying", nil)
	p.respond(inv, from, 183, "Session Progress", p.sdp("sendrecv"))
	hung := make(chan time.Time, 1)
	go func() {
		if err := d.leg.Hangup(context.Background(), "withdrawn"); err != nil {
			t.Errorf("hangup: %v", err)
		}
		hung <- time.Now()
	}()
	cancel, cfrom := p.request(sipmsg.CANCEL, 3*time.Second)
	p.respond(cancel, cfrom, 200, "OK", nil)
	time.Sleep(200 * time.Millisecond)
	sent := time.Now()
	p.respond(inv, from, 487, "Request Terminated", nil)
	select {
	case at := <-hung:
		if at.Before(sent) {
			t.Errorf("Hangup returned %v before the 487", sent.Sub(at))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Hangup did not return")
	}
	if err := d.leg.Err(); !errors.Is(err, ivr.ErrAgentNoAnswer) {
		t.Errorf("Err = %v, want %v", err, ivr.ErrAgentNoAnswer)
	}
	d.end(t, true)
}

// TestDialCancelCrossesAnswer: the phone answers as ivrd cancels: the 200
// is acknowledged and the phone hung up at once.
func TestDialCancelCrossesAnswer(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, false)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 180, "Ringing", nil)
	go d.leg.Hangup(context.Background(), "withdrawn")
	cancel, cfrom := p.request(sipmsg.CANCEL, 3*time.Second)
	// Too late: the phone answered already.
	p.respond(inv, from, 200, "OK", p.sdp("sendrecv"))
	p.respond(cancel, cfrom, 200, "OK", nil)
	p.request(sipmsg.ACK, 3*time.Second)
	bye, bfrom := p.request(sipmsg.BYE, 3*time.Second)
	p.respond(bye, bfrom, 200, "OK", nil)
	waitDone(t, d.leg, 3*time.Second)
	if err := d.leg.Err(); !errors.Is(err, ivr.ErrAgentNoAnswer) {
		t.Errorf("Err = %v, want %v", err, ivr.ErrAgentNoAnswer)
	}
	d.end(t, false)
}

// TestDialPhoneBye: the agent hangs up: 200 to its BYE, the leg is done
// with no error and sends nothing more.
func TestDialPhoneBye(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, true)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 200, "OK", p.sdp("sendrecv"))
	p.request(sipmsg.ACK, 3*time.Second)
	waitAnswered(t, d.leg, 3*time.Second)

	// A re-INVITE putting ivrd on hold is answered recvonly.
	inv.To().Params.Add("tag", p.tag)
	p.inDialog(inv, from, sipmsg.INVITE, 1, p.sdp("sendonly"))
	res := p.response(1, 3*time.Second)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Fatalf("re-INVITE answered %d:\n%s", res.StatusCode, res.Body())
	}
	p.inDialog(inv, from, sipmsg.ACK, 1, nil)

	p.inDialog(inv, from, sipmsg.BYE, 2, nil)
	if res := p.response(2, 3*time.Second); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	waitDone(t, d.leg, 3*time.Second)
	if err := d.leg.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	p.quiet(sipmsg.BYE, 300*time.Millisecond)
	d.end(t, true)
}

// TestDialCallerHangsUp: the caller hangs up while the phone rings: the
// driver cancels the phone, and the call ends only once the leg did.
func TestDialCallerHangsUp(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, true)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 180, "Ringing", nil)
	// The caller's BYE.
	d.caller.send("BYE sip:ivrd@" + d.s.Addr("udp").String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + d.caller.addr() +
		";branch=z9hG4bK-callerbye\r\nFrom: <sip:100@127.0.0.1>;tag=raw\r\nTo: " + d.toTag(t) +
		"\r\nCall-ID: " + d.callID + "\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	cancel, cfrom := p.request(sipmsg.CANCEL, 3*time.Second)
	p.respond(cancel, cfrom, 200, "OK", nil)
	p.respond(inv, from, 487, "Request Terminated", nil)
	waitDone(t, d.leg, 3*time.Second)
	<-d.handled
	waitIdle(t, d.s)
}

// toTag is the To of the caller's answered call, for its BYE.
func (d *dialCall) toTag(t *testing.T) string {
	t.Helper()
	d.s.mu.Lock()
	c := d.s.calls[d.callID]
	d.s.mu.Unlock()
	if c == nil {
		t.Fatal("caller's call not found")
	}
	return c.dlg.InviteResponse.To().Value()
}

// TestDialAnsweredCallerHangsUp: the caller hangs up during the
// conversation: the agent gets BYE.
func TestDialAnsweredCallerHangsUp(t *testing.T) {
	p := newPhone(t)
	d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 10 * time.Second}, true)
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 200, "OK", p.sdp("sendrecv"))
	p.request(sipmsg.ACK, 3*time.Second)
	waitAnswered(t, d.leg, 3*time.Second)
	d.caller.send("BYE sip:ivrd@" + d.s.Addr("udp").String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + d.caller.addr() +
		";branch=z9hG4bK-callerbye2\r\nFrom: <sip:100@127.0.0.1>;tag=raw\r\nTo: " + d.toTag(t) +
		"\r\nCall-ID: " + d.callID + "\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	bye, bfrom := p.request(sipmsg.BYE, 3*time.Second)
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "caller hung up") {
		t.Errorf("BYE Reason = %v", r)
	}
	p.respond(bye, bfrom, 200, "OK", nil)
	waitDone(t, d.leg, 3*time.Second)
	waitIdle(t, d.s)
}

// TestDialBadPhone: what cannot be rung fails Dial at once.
func TestDialBadPhone(t *testing.T) {
	for _, phone := range []string{"", "tel:+33612345678", "sip:", "sips:alice@127.0.0.1;transport=udp", "sip:alice@127.0.0.1;transport=sctp"} {
		t.Run(phone, func(t *testing.T) {
			d := startDial(t, ivr.DialRequest{Offer: ivr.Offer{Phone: phone}, Contact: testContact()}, false)
			if !errors.Is(d.err, ErrBadPhone) {
				t.Errorf("Dial(%q) = %v, want %v", phone, d.err, ErrBadPhone)
			}
			d.end(t, false)
		})
	}
}

func branchOf(req *sipmsg.Request) string {
	b, _ := req.Via().Params.Get("branch")
	return b
}

// settle lets the server take a last ACK before the test closes it: sipgo
// handles a request read just before its stack closes by opening a socket
// of its own, which would outlive the test.
func settle() { time.Sleep(50 * time.Millisecond) }

// TestDialMediaTimeout: an answered phone that sends no RTP is hung up
// when the media timeout passes, while the caller (who sends) stays.
func TestDialMediaTimeout(t *testing.T) {
	p := newPhone(t)
	legs := make(chan ivr.Ringing, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			return
		}
		r, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 5 * time.Second})
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		legs <- r
		<-ctx.Done()
	}, func(c *Config) {
		base := mediaBase()
		ep, err := media.NewEndpoint(media.EndpointConfig{
			IP:           netip.MustParseAddr("127.0.0.1"),
			PortMin:      base,
			PortMax:      base + 98,
			MediaTimeout: 400 * time.Millisecond,
			Logger:       c.Logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		c.Media = ep
	})
	ua, err := siptest.NewUA(netip.MustParseAddrPort(s.Addr("udp").String()))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "100", siptest.WithSilence())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	p.respond(inv, from, 200, "OK", p.sdp("sendrecv"))
	p.request(sipmsg.ACK, 3*time.Second)
	leg := <-legs
	waitAnswered(t, leg, 3*time.Second)
	answered := time.Now()
	bye, bfrom := p.request(sipmsg.BYE, 3*time.Second)
	if since := time.Since(answered); since < 350*time.Millisecond {
		t.Errorf("BYE %v after the answer, before the media timeout", since)
	}
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "media timeout") {
		t.Errorf("BYE Reason = %v", r)
	}
	p.respond(bye, bfrom, 200, "OK", nil)
	waitDone(t, leg, 3*time.Second)
	select {
	case <-c.Done():
		t.Fatal("the caller was hung up too")
	default:
	}
	if err := c.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
}

func TestParsePhone(t *testing.T) {
	tests := []struct {
		in        string
		transport string
		user      string
		ok        bool
	}{
		{"sip:alice@192.0.2.10", "UDP", "alice", true},
		{"<sip:alice@192.0.2.10:5062>", "UDP", "alice", true},
		{"sip:alice@pbx.example.com;transport=tcp", "TCP", "alice", true},
		{"sip:alice@pbx.example.com;transport=TLS", "TLS", "alice", true},
		{"sips:alice@pbx.example.com", "TLS", "alice", true},
		{"sips:alice@pbx.example.com;transport=tcp", "TLS", "alice", true},
		{"SIP:bob@192.0.2.10", "UDP", "bob", true},
		{"sip:192.0.2.10", "UDP", "", true},
		{"sips:alice@pbx.example.com;transport=udp", "", "", false},
		{"sip:alice@pbx.example.com;transport=ws", "", "", false},
		{"tel:+33612345678", "", "", false},
		{"alice", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			uri, tp, err := parsePhone(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parsePhone(%q) = %v, want ok %v", tt.in, err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, ErrBadPhone) {
					t.Errorf("error %v is not %v", err, ErrBadPhone)
				}
				return
			}
			if tp != tt.transport || uri.User != tt.user {
				t.Errorf("parsePhone(%q) = %s user %q, want %s user %q", tt.in, tp, uri.User, tt.transport, tt.user)
			}
		})
	}
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"sip:alice@192.0.2.10:5062;transport=tcp", "sips:a@b", "<sip:x@[::1]>", "sip:@", "sip:a@b;transport="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uri, tp, err := parsePhone(s)
		if err != nil {
			return
		}
		if uri.Host == "" || (tp != "UDP" && tp != "TCP" && tp != "TLS") {
			t.Fatalf("parsePhone(%q) = %+v, %q", s, uri, tp)
		}
	})
}

func TestDisplayNameAndUser(t *testing.T) {
	tests := []struct {
		ct   ivr.Contact
		name string
		user string
	}{
		{ivr.Contact{Caller: "+33612345678", Intent: "invoice", Queue: "billing"}, "+33612345678 - invoice", "+33612345678"},
		{ivr.Contact{Caller: "0612345678", Queue: "billing"}, "0612345678 - billing", "0612345678"},
		{ivr.Contact{}, "anonymous", "anonymous"},
		{ivr.Contact{Caller: `ev"il\ <x>@y`, Intent: "a\r\nb"}, `evil <x>@y - ab`, "ev%22il%5C%20%3Cx%3E%40y"},
	}
	for _, tt := range tests {
		if got := displayName(tt.ct); got != tt.name {
			t.Errorf("displayName(%+v) = %q, want %q", tt.ct, got, tt.name)
		}
		if got := sipUser(tt.ct.Caller); got != tt.user {
			t.Errorf("sipUser(%q) = %q, want %q", tt.ct.Caller, got, tt.user)
		}
	}
}

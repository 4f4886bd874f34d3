package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// Headers of the INVITE to an agent's phone, which tell the phone (and
// whatever integrates with it) which contact it is offered.
const (
	HeaderContactID = "X-Ivrd-Contact-Id" // the contact's id in the queue
	HeaderQueue     = "X-Ivrd-Queue"      // the queue it waited in
	HeaderIntent    = "X-Ivrd-Intent"     // the qualified reason of the call, if any
)

// agentLeg is an agent's phone rung by ivrd: for a caller's call
// ((*call).Dial), or by the server itself for an agent-first callback,
// before the customer is called ((*Server).Dial). ivrd is the UAC of its
// dialog (see uac), so the phone's in-dialog requests (BYE, re-INVITE)
// reach the server's handlers. It is the driver's ivr.Ringing, and any of
// the server's calls can bridge to it.
//
// Goroutines: run, which owns the INVITE transaction and then waits for
// the end, and the media session's reader once answered.
type agentLeg struct {
	uac
	// owner is the context of the call the phone rings for, else the
	// server's (Server.Dial): its end ends the leg. released tells the
	// owner the leg is over.
	owner    context.Context
	released func()
	phone    string
	sess     *media.Session
	local    netip.AddrPort
	timeout  time.Duration

	ctx      context.Context // the answered dialog's; ends with the leg
	cancel   context.CancelCauseFunc
	answered chan struct{}
	stop     chan struct{} // closed to end an answered leg
	done     chan struct{}
	acks     chan *sipmsg.Request

	// Guarded by uac.mu.
	endReason   string // why the answered leg ends, once it does
	remoteEnded bool   // the phone sent BYE
	tookCall    bool   // Answered was closed
	neg         negotiation
	sdp         sdpBuilder
	err         error
}

var (
	_ ivr.Dialer  = (*call)(nil)
	_ ivr.Dialer  = (*Server)(nil)
	_ ivr.Ringing = (*agentLeg)(nil)
)

// Dial rings an agent's phone for the caller: an INVITE to r.Offer.Phone
// with an SDP offer of a new media session, from the caller's number. It
// returns once the INVITE is sent; the leg reports the rest. The leg is
// cancelled (or hung up) by the driver when the call ends.
func (c *call) Dial(ctx context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	l, err := c.srv.dialAgent(ctx, c, r)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Dial rings an agent's phone with no caller's call behind it, for an
// agent-first callback: the agent takes the request first, then the
// customer is called (Originate) and bridged to this leg. It works as
// (*call).Dial, with r.Contact.Caller (the customer's number) in From.
// As no call's end ends the leg, whoever dialled hangs it up: besides its
// phone, the ring timeout and the media timeout, only Hangup and Close
// (cause ivr.ErrShutdown) end it. A draining or closed server refuses
// with ivr.ErrShutdown; Wait and Close wait for the leg.
func (s *Server) Dial(ctx context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	l, err := s.dialAgent(ctx, nil, r)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// dialAgent rings r.Offer.Phone for the call c, or for the server when c
// is nil, and returns once the INVITE is sent.
func (s *Server) dialAgent(ctx context.Context, c *call, r ivr.DialRequest) (*agentLeg, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("dial agent: %w", err)
	}
	owner := s.life
	if c != nil {
		owner = c.ctx
	}
	if err := context.Cause(owner); err != nil {
		return nil, fmt.Errorf("dial agent: %w", err)
	}
	target, transport, err := parsePhone(r.Offer.Phone)
	if err != nil {
		return nil, fmt.Errorf("dial agent %q: %w", r.Offer.Phone, err)
	}
	dua := s.agentUA(transport)
	if dua == nil {
		return nil, fmt.Errorf("dial agent %q: %s: %w", r.Offer.Phone, transport, ErrNoListener)
	}
	id := uuid.NewString()
	log := s.log.With("call_id", id)
	if c != nil {
		log = c.log.With("agent_call_id", id)
	}
	log = log.With("agent", r.Offer.Agent)
	sess, err := s.cfg.Media.NewSession(log)
	if err != nil {
		return nil, fmt.Errorf("dial agent: create media session: %w", err)
	}
	l := &agentLeg{
		uac: uac{
			srv:     s,
			log:     log,
			id:      id,
			dua:     dua,
			auth:    s.cfg.AgentAuth,
			op:      "ring agent",
			peer:    "agent phone",
			party:   "agent",
			authErr: ErrAgentAuth,
			refused: responseError,
		},
		owner:    owner,
		phone:    r.Offer.Phone,
		sess:     sess,
		local:    s.mediaAddr(sess.LocalAddr()),
		timeout:  ringTimeout(r, s.cfg.RingTimeout),
		answered: make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		acks:     make(chan *sipmsg.Request, 4),
		sdp:      sdpBuilder{sessionID: rand.Uint64N(1 << 62)},
	}
	if transport == "UDP" {
		l.laddr = s.udpLaddr
	}
	l.init()
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	sess.SetHooks(media.Hooks{DTMF: l.onDTMF, End: l.onMediaEnd})

	// The owner waits for its legs: a call before it is gone, the server
	// in Wait and Close.
	if c != nil {
		c.mu.Lock()
		if c.legsClosed {
			c.mu.Unlock()
			l.release()
			return nil, fmt.Errorf("dial agent: %w", context.Cause(c.ctx))
		}
		c.legs.Add(1)
		c.mu.Unlock()
		l.released = c.legs.Done
	} else {
		if !s.addOwnLeg() {
			l.release()
			return nil, fmt.Errorf("dial agent: %w", ivr.ErrShutdown)
		}
		l.released = s.ownLegDone
	}
	s.addLeg(l)

	req := l.invite(target, transport, r.Contact)
	l.log.Info("ringing agent", "phone", r.Offer.Phone, "transport", transport, "timeout", l.timeout)
	if err := l.send(ctx, req); err != nil {
		s.removeLeg(l)
		l.release()
		l.released()
		return nil, fmt.Errorf("dial agent %q: %w", r.Offer.Phone, err)
	}
	go l.run()
	return l, nil
}

// ringTimeout is how long the phone may ring: the request's timeout, else
// until the offer's deadline, else the configured default.
func ringTimeout(r ivr.DialRequest, def time.Duration) time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	if !r.Offer.Deadline.IsZero() {
		if d := time.Until(r.Offer.Deadline); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return def
}

// parsePhone reads an agent's phone URI and the transport to reach it:
// the transport parameter, TLS for sips:, UDP by default.
func parsePhone(phone string) (sipmsg.Uri, string, error) {
	var uri sipmsg.Uri
	phone = strings.TrimSpace(phone)
	phone = strings.TrimSuffix(strings.TrimPrefix(phone, "<"), ">")
	if err := sipmsg.ParseUri(phone, &uri); err != nil {
		return uri, "", fmt.Errorf("%w: %v", ErrBadPhone, err)
	}
	scheme := strings.ToLower(uri.Scheme)
	if scheme != "sip" && scheme != "sips" {
		return uri, "", fmt.Errorf("%w: scheme %q", ErrBadPhone, uri.Scheme)
	}
	if uri.Host == "" {
		return uri, "", fmt.Errorf("%w: no host", ErrBadPhone)
	}
	uri.Scheme = scheme
	uri.Headers = nil
	transport := "UDP"
	if scheme == "sips" {
		transport = "TLS"
	}
	if uri.UriParams != nil {
		if tp, ok := uri.UriParams.Get("transport"); ok && tp != "" {
			transport = strings.ToUpper(tp)
		}
	}
	switch {
	case transport == "UDP" && scheme == "sips":
		return uri, "", fmt.Errorf("%w: sips: over UDP", ErrBadPhone)
	case transport == "TCP" && scheme == "sips":
		transport = "TLS" // RFC 5630: sips: with transport=tcp is TLS
	case transport != "UDP" && transport != "TCP" && transport != "TLS":
		return uri, "", fmt.Errorf("%w: transport %q", ErrBadPhone, transport)
	}
	return uri, transport, nil
}

// agentUA is the dialog user agent of a transport, nil when ivrd does not
// serve it.
func (s *Server) agentUA(transport string) *sipgo.DialogUA {
	switch transport {
	case "UDP":
		return s.udpUA
	case "TCP":
		return s.tcpUA
	case "TLS":
		return s.tlsUA
	}
	return nil
}

// invite builds the INVITE: From the caller's number at ivrd's host, with
// a display name the phone shows; To the phone; the contact's headers.
func (l *agentLeg) invite(target sipmsg.Uri, transport string, ct ivr.Contact) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	req.SetTransport(transport)
	req.Laddr = l.laddr
	contact := sipmsg.HeaderClone(&l.dua.ContactHDR).(*sipmsg.ContactHeader)
	from := &sipmsg.FromHeader{
		DisplayName: displayName(ct),
		Address:     sipmsg.Uri{Scheme: target.Scheme, User: sipUser(ct.Caller), Host: contact.Address.Host},
		Params:      sipmsg.NewParams(),
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}}
	callID := sipmsg.CallIDHeader(l.id)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(contact)
	req.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	req.AppendHeader(sipmsg.NewHeader("User-Agent", l.srv.cfg.UserAgent))
	if ct.ID != "" {
		req.AppendHeader(sipmsg.NewHeader(HeaderContactID, headerText(ct.ID)))
	}
	if ct.Queue != "" {
		req.AppendHeader(sipmsg.NewHeader(HeaderQueue, headerText(ct.Queue)))
	}
	if ct.Intent != "" {
		req.AppendHeader(sipmsg.NewHeader(HeaderIntent, headerText(ct.Intent)))
	}
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(l.sdp.offer(l.local))
	return req
}

// displayName is what the agent's phone shows: the caller's number and,
// when known, why they call (or the queue).
func displayName(ct ivr.Contact) string {
	name := ct.Caller
	if name == "" {
		name = "anonymous"
	}
	if why := cmpOr(ct.Intent, ct.Queue); why != "" {
		name += " - " + why
	}
	// A quoted-string: no quote, backslash or control character, bounded.
	name = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if len(name) > 64 {
		name = strings.ToValidUTF8(name[:64], "")
	}
	return name
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sipUser escapes a caller's number as the user part of a SIP URI
// (RFC 3261 section 25.1: unreserved and user-unreserved characters,
// others %-escaped).
func sipUser(s string) string {
	if s == "" {
		return "anonymous"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			strings.IndexByte("-_.!~*'()&=+$,;?/", ch) >= 0:
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// headerText makes a value safe for a header line: no control
// characters, bounded length.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 128 {
		s = strings.ToValidUTF8(s[:128], "")
	}
	return s
}

// run owns the leg: it waits for the phone's answer, then for the end.
func (l *agentLeg) run() {
	defer l.finish()
	// The owner ending (the caller's call, or the server's Close) cancels
	// a ringing leg and hangs up an answered one, whatever the engine does.
	unhook := context.AfterFunc(l.owner, func() {
		cause := context.Cause(l.owner)
		l.end(fmt.Errorf("ring agent: call ended: %w", cause), "call ended: "+cause.Error(), false)
	})
	defer unhook()
	timer := time.AfterFunc(l.timeout, func() {
		l.end(fmt.Errorf("ring agent: no answer within %v: %w", l.timeout, ivr.ErrAgentNoAnswer), "", false)
	})
	err := l.ring()
	timer.Stop()
	if err != nil {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		l.log.Info("agent did not take the call", "err", err)
		return
	}
	<-l.stop
	l.mu.Lock()
	reason, remote := l.endReason, l.remoteEnded
	l.mu.Unlock()
	if !remote {
		if err := l.bye(reason); err != nil {
			l.log.Info("hang up agent", "err", err)
		}
	}
}

// ring waits for the phone's final response, cancelling when asked to.
// It returns nil once the leg is answered and its media started.
func (l *agentLeg) ring() error {
	res, err := l.wait()
	if err != nil {
		return err
	}
	return l.answer(res)
}

// responseError maps the final response of a phone that did not take the
// call to the engine's reasons.
func responseError(res *sipmsg.Response) error {
	var why error
	switch res.StatusCode {
	case sipmsg.StatusBusyHere, sipmsg.StatusGlobalBusyEverywhere:
		why = ivr.ErrAgentBusy
	case sipmsg.StatusGlobalDecline, sipmsg.StatusForbidden:
		why = ivr.ErrAgentDeclined
	case sipmsg.StatusRequestTimeout, sipmsg.StatusTemporarilyUnavailable, sipmsg.StatusRequestTerminated:
		why = ivr.ErrAgentNoAnswer
	case sipmsg.StatusUnauthorized, sipmsg.StatusProxyAuthRequired:
		why = ErrAgentAuth
	default:
		return fmt.Errorf("ring agent: phone answered %d %s", res.StatusCode, res.Reason)
	}
	return fmt.Errorf("ring agent: phone answered %d %s: %w", res.StatusCode, res.Reason, why)
}

// end asks the leg to end: ringing, it is cancelled with ringErr as its
// Err; answered, it is hung up with reason (or was, by the phone, when
// remote is set). A nil ringErr leaves a ringing leg be, an empty reason
// an answered one (the ring timeout must not hang up a phone answered just
// then). Only the first request counts.
func (l *agentLeg) end(ringErr error, reason string, remote bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case legRinging:
		l.giveUpLocked(ringErr)
	case legAnswered:
		if l.endReason != "" || reason == "" {
			return
		}
		l.endReason = reason
		l.remoteEnded = remote
		l.cancel(ErrLegEnded)
		close(l.stop)
	}
}

// answer completes an answered INVITE: ACK, the SDP answer, the media.
func (l *agentLeg) answer(res *sipmsg.Response) error {
	neg, err := l.confirm(res)
	if err != nil {
		return err
	}
	if err := l.sess.Start(neg.Remote, codecOf(neg), neg.EventPT); err != nil {
		if err := l.bye("media failed"); err != nil {
			l.log.Info("hang up agent", "err", err)
		}
		return fmt.Errorf("ring agent: %w", err)
	}
	l.sess.SetSending(neg.Sending())
	l.mu.Lock()
	l.neg = neg
	l.tookCall = true
	l.mu.Unlock()
	close(l.answered)
	l.log.Info("agent answered", "codec", neg.Codec, "remote", neg.Remote.String())
	return nil
}

// finish releases the leg once run is over.
func (l *agentLeg) finish() {
	l.release()
	l.srv.removeLeg(l)
	l.mu.Lock()
	l.state = legEnded
	err := l.err
	l.mu.Unlock()
	st := l.sess.Stats()
	l.log.Info("agent leg ended", "err", err, "rtp_sent", st.PacketsSent, "rtp_received", st.PacketsReceived)
	close(l.done)
	l.released()
}

// release frees what Dial took.
func (l *agentLeg) release() {
	l.close()
	l.cancel(ErrLegEnded)
	if err := l.sess.Close(); err != nil && !errors.Is(err, media.ErrClosed) {
		l.log.Debug("close media session", "err", err)
	}
}

// Answered is closed when the phone answered and the leg's media started.
func (l *agentLeg) Answered() <-chan struct{} { return l.answered }

// Done is closed when the leg ended.
func (l *agentLeg) Done() <-chan struct{} { return l.done }

// Err says why the phone did not take the call, once Done is closed.
func (l *agentLeg) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != legEnded || l.tookCall {
		return nil
	}
	return l.err
}

// Hangup cancels the ringing phone (and waits for its 487) or hangs up
// the answered one, then returns once the leg ended or ctx is done.
func (l *agentLeg) Hangup(ctx context.Context, reason string) error {
	l.end(fmt.Errorf("ring agent: cancelled (%s): %w", reason, ivr.ErrAgentNoAnswer), reason, false)
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hang up agent: %w", context.Cause(ctx))
	}
}

// onMediaEnd ends an answered leg whose phone sends no more RTP.
func (l *agentLeg) onMediaEnd(cause error) {
	if errors.Is(cause, media.ErrMediaTimeout) {
		l.log.Info("agent media timeout")
		l.end(nil, "media timeout", false)
	}
}

// onDTMF drops the agent's keys: nothing listens to them.
func (l *agentLeg) onDTMF(ev media.DTMFEvent) {
	l.log.Debug("agent key ignored", "digit", string(ev.Digit), "via", ev.Via)
}

// addLeg and removeLeg keep the legs whose in-dialog requests the server
// routes.
func (s *Server) addLeg(l *agentLeg) {
	s.mu.Lock()
	s.legs[l.id] = l
	s.mu.Unlock()
}

func (s *Server) removeLeg(l *agentLeg) {
	s.mu.Lock()
	if s.legs[l.id] == l {
		delete(s.legs, l.id)
	}
	s.mu.Unlock()
}

// dialogLeg finds the answered agent leg an in-dialog request from a phone
// belongs to.
func (s *Server) dialogLeg(req *sipmsg.Request) *agentLeg {
	s.mu.Lock()
	l := s.legs[req.CallID().Value()]
	s.mu.Unlock()
	if l == nil || !l.matches(req) {
		return nil
	}
	return l
}

// onBye: the agent hung up.
func (l *agentLeg) onBye(req *sipmsg.Request, tx *trackedTx) {
	if err := l.dlg.ReadBye(req, tx); err != nil {
		l.log.Debug("read BYE", "err", err)
	}
	l.log.Info("agent hung up")
	l.end(nil, "agent hung up", true)
}

func (l *agentLeg) onAck(req *sipmsg.Request) {
	select {
	case l.acks <- req:
	default:
	}
}

// onReInvite handles the phone's hold, unhold or new address, as for a
// caller: the answer mirrors its direction and the media follows.
func (l *agentLeg) onReInvite(req *sipmsg.Request, tx *trackedTx) {
	l.mu.Lock()
	up := l.state == legAnswered && l.endReason == ""
	l.mu.Unlock()
	if !up || l.dlg.LoadState() != sipmsg.DialogStateConfirmed {
		l.srv.respond(req, tx, sipmsg.StatusRequestPending, "Request Pending")
		return
	}
	if err := l.dlg.ReadRequest(req, tx); err != nil {
		l.srv.respond(req, tx, sipmsg.StatusInternalServerError, "CSeq Out Of Order")
		return
	}
	if len(req.Body()) == 0 || !isSDP(req) {
		l.srv.respond(req, tx, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
			sipmsg.NewHeader("Warning", `399 ivrd "re-INVITE without SDP not supported"`))
		return
	}
	neg, err := negotiateBody(req.Body())
	if err != nil {
		l.log.Info("reject agent re-INVITE offer", "err", err)
		l.srv.rejectMedia(req, tx, err)
		return
	}
	l.mu.Lock()
	l.neg = neg
	body := l.sdp.answer(l.local, neg)
	l.mu.Unlock()
	l.sess.SetRemote(neg.Remote, codecOf(neg), neg.EventPT)
	l.sess.SetSending(neg.Sending())
	l.log.Info("agent re-INVITE", "direction", neg.Direction.String(), "remote", neg.Remote.String(), "sending", neg.Sending())

	res := sipmsg.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sipmsg.HeaderClone(l.dlg.InviteRequest.Contact()))
	if err := tx.Respond(res); err != nil {
		l.log.Debug("answer agent re-INVITE", "err", err)
		return
	}
	if _, err := waitAck(context.Background(), l.ctx, l.acks, tx, res, l.log); err != nil {
		l.log.Debug("agent re-INVITE ACK", "err", err)
	}
}

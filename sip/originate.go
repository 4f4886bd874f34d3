package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// Headers of the INVITE to a customer called back, which tell the trunk's
// logs (and whatever integrates with them) which request and attempt the
// call is; X-Ivrd-Queue (HeaderQueue) names the queue.
const (
	HeaderCallbackID = "X-Ivrd-Callback-Id"
	HeaderAttempt    = "X-Ivrd-Attempt"
)

var _ ivr.Originator = (*Server)(nil)

// Originate calls a customer back through the trunk (Config.Trunk), per
// ivr.Originator: INVITE sip:<r.Number>@<Trunk.Domain> with an SDP offer
// of a new media session, From Trunk.CallerID. It blocks while the
// customer's phone rings, for r.Timeout or Trunk.RingTimeout, whichever
// is shorter.
//
// Answered, the customer's call is a call of the server like a caller's
// (Play, DTMF, Record, Dial, Bridge; Answer is a no-op), counted in
// ActiveCalls, and serve runs with it on the calling goroutine. serve's
// context ends with ivr.ErrCallerHangup when the customer hangs up,
// ivr.ErrMediaTimeout when the customer's RTP stops, ivr.ErrShutdown at
// Close, and the cause of ctx when ctx ends. When serve returns the
// customer is hung up (BYE) if still there, and Originate returns nil (an
// error if serve panicked).
//
// Not answered, it returns an error wrapping ivr.ErrCalleeBusy (486,
// 600), ivr.ErrCalleeNoAnswer (408, 480, 487, or the ring timeout, after
// which the INVITE is cancelled), ivr.ErrCalleeRejected (603), ErrTrunkAuth
// (a challenge it could not answer), or saying the status. ctx ending
// while the phone rings cancels the INVITE and returns its cause; so does
// Close, with ivr.ErrShutdown. Refused before anything is sent: a number
// that is not digits with an optional leading + (ErrBadNumber), no trunk
// configured (ivr.ErrNoCallbacks), a draining or closed server
// (ivr.ErrShutdown), no listener for the trunk's transport (ErrNoListener).
func (s *Server) Originate(ctx context.Context, r ivr.OriginateRequest, serve func(ctx context.Context, c ivr.Call)) error {
	if serve == nil {
		return errors.New("call customer: nothing to serve the call with")
	}
	c, err := s.newOutbound(ctx, r)
	if err != nil {
		return err
	}
	defer c.cleanup()
	if err := c.ring(ctx, r); err != nil {
		c.log.Info("customer not reached", "err", err)
		c.cancel(err)
		return err
	}
	defer c.cancel(ErrHungUp)
	// The engine giving up the call ends it too.
	stop := context.AfterFunc(ctx, func() { c.cancel(context.Cause(ctx)) })
	defer stop()
	ok := c.serve(serve)
	c.end()
	if !ok {
		return errors.New("call customer: serve panicked")
	}
	return nil
}

// newOutbound checks a request and sets up the customer's call and its
// media session, counted in ActiveCalls from now on.
func (s *Server) newOutbound(ctx context.Context, r ivr.OriginateRequest) (*call, error) {
	t := s.cfg.Trunk
	switch {
	case t.Address == "":
		return nil, fmt.Errorf("call customer: no trunk configured: %w", ivr.ErrNoCallbacks)
	case !validNumber(r.Number):
		return nil, fmt.Errorf("call customer %q: %w", r.Number, ErrBadNumber)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("call customer: %w", err)
	}
	if s.draining.Load() {
		return nil, fmt.Errorf("call customer: %w", ivr.ErrShutdown)
	}
	dua := s.agentUA(t.Transport)
	if dua == nil {
		return nil, fmt.Errorf("call customer: trunk over %s: %w", t.Transport, ErrNoListener)
	}
	id := uuid.NewString()
	log := s.log.With("call_id", id, "callback_id", r.CallbackID, "attempt", r.Attempt)
	sess, err := s.cfg.Media.NewSession(log)
	if err != nil {
		return nil, fmt.Errorf("call customer: create media session: %w", err)
	}
	cctx, cancel := context.WithCancelCause(context.Background())
	c := &call{
		srv: s,
		log: log,
		id:  id,
		// The customer is the person on the line, and the number dialled.
		caller:  r.Number,
		dialled: r.Number,
		out: &uac{
			srv:     s,
			log:     log,
			id:      id,
			dua:     dua,
			auth:    t.Credentials,
			op:      "call customer",
			peer:    "trunk",
			party:   "customer",
			authErr: ErrTrunkAuth,
			refused: calleeError,
		},
		sess:    sess,
		ctx:     cctx,
		cancel:  cancel,
		dtmf:    make(chan ivr.DTMF, dtmfBuffer),
		acks:    make(chan *sipmsg.Request, 4),
		release: func() {},
		sdp:     sdpBuilder{sessionID: rand.Uint64N(1 << 62)},
	}
	if t.Transport == "UDP" {
		c.out.laddr = s.udpLaddr
	}
	c.out.init()
	c.local = s.mediaAddr(sess.LocalAddr())
	sess.SetHooks(media.Hooks{DTMF: c.onDTMF, End: c.onMediaEnd})
	if !s.addOutbound(c) {
		c.out.close()
		cancel(ivr.ErrShutdown)
		sess.Close()
		return nil, fmt.Errorf("call customer: %w", ivr.ErrShutdown)
	}
	return c, nil
}

// ring sends the INVITE and waits for the customer, giving up at the ring
// timeout, when ctx ends or when the server closes. It returns nil once
// the call is answered, acknowledged and its media started.
func (c *call) ring(ctx context.Context, r ivr.OriginateRequest) error {
	u := c.out
	t := c.srv.cfg.Trunk
	// The trunk's ring timeout bounds every call; a request may ring less.
	timeout := t.RingTimeout
	if r.Timeout > 0 {
		timeout = min(r.Timeout, timeout)
	}
	if err := u.send(ctx, c.invite(r)); err != nil {
		return fmt.Errorf("call customer: %w", err)
	}
	c.log.Info("calling customer", "number", r.Number, "trunk", t.Address, "transport", t.Transport,
		"queue", r.Contact.Queue, "timeout", timeout)
	timer := time.AfterFunc(timeout, func() {
		u.giveUp(fmt.Errorf("call customer: no answer within %v: %w", timeout, ivr.ErrCalleeNoAnswer))
	})
	defer timer.Stop()
	for _, life := range []context.Context{ctx, c.ctx} {
		stop := context.AfterFunc(life, func() { u.giveUp(fmt.Errorf("call customer: %w", context.Cause(life))) })
		defer stop()
	}
	res, err := u.wait()
	if err != nil {
		return err
	}
	neg, err := u.confirm(res)
	if err != nil {
		return err
	}
	if err := c.startMedia(neg); err != nil {
		if berr := u.bye("media failed"); berr != nil {
			c.log.Info("hang up customer", "err", berr)
		}
		return fmt.Errorf("call customer: %w", err)
	}
	c.mu.Lock()
	c.neg = neg
	c.answered = true
	c.mu.Unlock()
	c.log.Info("customer answered", "codec", neg.Codec, "remote", neg.Remote.String())
	return nil
}

// invite builds the INVITE to the customer: the number at the trunk's
// domain (else its address), From the contact centre's number, the
// request's headers, and an offer of the call's media session. It leaves
// from ivrd's listener for the trunk's address, whatever the domain.
func (c *call) invite(r ivr.OriginateRequest) *sipmsg.Request {
	t := c.srv.cfg.Trunk
	u := c.out
	host, portStr, _ := net.SplitHostPort(t.Address)
	port, _ := strconv.Atoi(portStr)
	target := sipmsg.Uri{Scheme: "sip", User: r.Number, Host: host, Port: port}
	contact := sipmsg.HeaderClone(&u.dua.ContactHDR).(*sipmsg.ContactHeader)
	fromHost := contact.Address.Host
	if t.Domain != "" {
		target.Host, target.Port = strings.Trim(t.Domain, "[]"), 0
		fromHost = target.Host
	}
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	req.SetTransport(t.Transport)
	req.SetDestination(t.Address)
	req.Laddr = u.laddr
	from := &sipmsg.FromHeader{
		Address: sipmsg.Uri{Scheme: "sip", User: sipUser(t.CallerID), Host: fromHost},
		Params:  sipmsg.NewParams(),
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}}
	callID := sipmsg.CallIDHeader(c.id)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(contact)
	req.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.srv.cfg.UserAgent))
	if r.CallbackID != "" {
		req.AppendHeader(sipmsg.NewHeader(HeaderCallbackID, headerText(r.CallbackID)))
	}
	if r.Contact.Queue != "" {
		req.AppendHeader(sipmsg.NewHeader(HeaderQueue, headerText(r.Contact.Queue)))
	}
	if r.Attempt > 0 {
		req.AppendHeader(sipmsg.NewHeader(HeaderAttempt, strconv.Itoa(r.Attempt)))
	}
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(c.sdp.offer(c.local))
	return req
}

// calleeError maps the trunk's final response for a customer not reached
// to the engine's reasons.
func calleeError(res *sipmsg.Response) error {
	var why error
	switch res.StatusCode {
	case sipmsg.StatusBusyHere, sipmsg.StatusGlobalBusyEverywhere:
		why = ivr.ErrCalleeBusy
	case sipmsg.StatusGlobalDecline:
		why = ivr.ErrCalleeRejected
	case sipmsg.StatusRequestTimeout, sipmsg.StatusTemporarilyUnavailable, sipmsg.StatusRequestTerminated:
		why = ivr.ErrCalleeNoAnswer
	case sipmsg.StatusUnauthorized, sipmsg.StatusProxyAuthRequired:
		why = ErrTrunkAuth
	default:
		return fmt.Errorf("call customer: trunk answered %d %s", res.StatusCode, res.Reason)
	}
	return fmt.Errorf("call customer: trunk answered %d %s: %w", res.StatusCode, res.Reason, why)
}

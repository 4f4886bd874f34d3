package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// dtmfBuffer is how many keys a call holds for an engine busy elsewhere.
// The engine takes keys whenever it waits and keeps its own type-ahead
// buffer, so this one only spans the moments it does something else, such
// as saving the call record; a key is at least 40 ms long. Keys beyond it
// are dropped and logged.
const dtmfBuffer = 8

// byeTimeout bounds a BYE transaction when the call's own context is gone.
const byeTimeout = 5 * time.Second

// call is one SIP call, the driver's ivr.Call: a caller's, which came in
// (ivrd the UAS of its dialog: tx and dlg), or a customer's that ivrd
// placed through the trunk (Originate: out). Both flavours share
// everything the engine uses (Play, DTMF, Record, Dial, Bridge, Hangup)
// and differ only in their dialog's signalling.
//
// Goroutines per call: two. The INVITE's handler goroutine runs
// Config.Handler (for a customer's call, the goroutine that called
// Originate runs its serve); the media session's reader also delivers
// DTMF and the media timeout through hooks (onDTMF, onMediaEnd). Each
// agent phone the call rings (Dial) adds two while it lasts: the leg's own
// and its media session's reader.
type call struct {
	srv     *Server
	log     *slog.Logger
	id      string
	caller  string
	dialled string
	tx      *trackedTx                 // inbound only
	dlg     *sipgo.DialogServerSession // inbound only
	out     *uac                       // outbound only: the customer's dialog
	sess    *media.Session
	ctx     context.Context
	cancel  context.CancelCauseFunc
	dtmf    chan ivr.DTMF
	acks    chan *sipmsg.Request
	release func() // lets the TCP connection of the call idle out again

	mu       sync.Mutex
	offer    bool        // the INVITE had SDP (early offer)
	neg      negotiation // current media parameters
	local    netip.AddrPort
	sdp      sdpBuilder
	answered bool // 200 OK sent (outbound: received, ACK sent, media started)
	finished bool // nothing more to send: rejected, cancelled, BYE sent or received

	legs       sync.WaitGroup // agent legs still up, see Dial
	legsClosed bool           // the call is being cleaned up: no more legs
}

var _ ivr.Call = (*call)(nil)

func (c *call) ID() string      { return c.id }
func (c *call) Caller() string  { return c.caller }
func (c *call) Dialled() string { return c.dialled }

// DTMF delivers keys from RFC 4733, SIP INFO and, when the peer negotiated
// no telephone-event, in-band tones; never closed.
func (c *call) DTMF() <-chan ivr.DTMF { return c.dtmf }

func (s *Server) onInvite(req *sipmsg.Request, tx *trackedTx) {
	if to := req.To(); to.Params != nil && to.Params.Has("tag") {
		s.onReInvite(req, tx)
		return
	}
	// The call runs on this goroutine for its whole life. Setting it up in
	// newCall keeps that work's frame off the stack while the call lasts.
	if c := s.newCall(req, tx); c != nil {
		c.run()
	}
}

// newCall checks an initial INVITE and sets up its call and media session.
// It answers the INVITE itself and returns nil when it refuses the call.
func (s *Server) newCall(req *sipmsg.Request, tx *trackedTx) *call {
	if !s.admitFlood(req, tx) {
		return nil
	}
	if s.draining.Load() {
		s.respond(req, tx, sipmsg.StatusServiceUnavailable, "Service Unavailable", s.retryAfter())
		return nil
	}
	// ivrd rings agents for its callers: it takes no INVITE that has used
	// up its hops, which a loop through an agent's phone would come back
	// as. Other requests with Max-Forwards 0 end at ivrd and are served
	// (RFC 4475 section 3.3.11).
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		s.respond(req, tx, sipmsg.StatusTooManyHops, "Too Many Hops")
		return nil
	}
	if s.atMaxCalls() {
		s.refuseFull(req, tx)
		return nil
	}
	if req.Contact() == nil {
		s.respond(req, tx, sipmsg.StatusBadRequest, "Missing Contact")
		return nil
	}
	offer := len(req.Body()) > 0
	var neg negotiation
	if offer {
		if !isSDP(req) {
			s.respond(req, tx, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type",
				sipmsg.NewHeader("Accept", "application/sdp"))
			return nil
		}
	}
	// The answer to an INVITE carries SDP: a caller that accepts none
	// cannot be answered (RFC 3261 section 21.4.7, RFC 4475 section 3.3.15).
	if !acceptsSDP(req) {
		s.respond(req, tx, sipmsg.StatusNotAcceptable, "Not Acceptable",
			sipmsg.NewHeader("Accept", "application/sdp"))
		return nil
	}
	if offer {
		var err error
		if neg, err = negotiateBody(req.Body()); err != nil {
			s.log.Info("reject offer", "call_id", req.CallID().Value(), "err", err)
			s.rejectMedia(req, tx, err)
			return nil
		}
	}
	dua := s.udpUA
	if sipmsg.IsReliable(req.Transport()) {
		dua = s.tcpUA
	}
	if dua == nil {
		s.respond(req, tx, sipmsg.StatusServiceUnavailable, "Transport Not Served")
		return nil
	}
	dlg, err := dua.ReadInvite(req, tx)
	if err != nil {
		s.respond(req, tx, sipmsg.StatusBadRequest, "Bad Request")
		return nil
	}
	log := s.log.With("call_id", req.CallID().Value())
	sess, err := s.cfg.Media.NewSession(log)
	if err != nil {
		log.Error("create media session", "err", err)
		s.respond(req, tx, sipmsg.StatusServiceUnavailable, "No Media Resources")
		return nil
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &call{
		srv:     s,
		log:     log,
		id:      req.CallID().Value(),
		caller:  uriUser(req.From().Address),
		dialled: uriUser(req.Recipient),
		tx:      tx,
		dlg:     dlg,
		sess:    sess,
		ctx:     ctx,
		cancel:  cancel,
		dtmf:    make(chan ivr.DTMF, dtmfBuffer),
		acks:    make(chan *sipmsg.Request, 4),
		release: func() {},
		offer:   offer,
		neg:     neg,
		sdp:     sdpBuilder{sessionID: rand.Uint64N(1 << 62)},
	}
	if c.dialled == "" {
		c.dialled = uriUser(req.To().Address)
	}
	c.local = s.mediaAddr(sess.LocalAddr())
	if err := s.addCall(c); err != nil {
		cancel(nil)
		sess.Close()
		if errors.Is(err, errFull) {
			s.refuseFull(req, tx)
		} else {
			s.respond(req, tx, sipmsg.StatusLoopDetected, "Loop Detected")
		}
		return nil
	}
	if s.tcpLn != nil && sipmsg.IsReliable(req.Transport()) {
		c.release = s.tcpLn.hold(req.Source())
	}
	return c
}

// mediaAddr is the address the SDP advertises for a session bound at bound.
func (s *Server) mediaAddr(bound netip.AddrPort) netip.AddrPort {
	ip := s.cfg.MediaIP
	if !ip.IsValid() && !bound.Addr().IsUnspecified() {
		ip = bound.Addr()
	}
	if !ip.IsValid() {
		for _, a := range []string{s.cfg.UDPAddr, s.cfg.TCPAddr} {
			if ap, err := netip.ParseAddrPort(a); err == nil && !ap.Addr().IsUnspecified() {
				ip = ap.Addr()
				break
			}
		}
	}
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(ip, bound.Port())
}

func isSDP(req *sipmsg.Request) bool {
	ct := req.ContentType()
	if ct == nil {
		return false
	}
	mt, _, _ := strings.Cut(ct.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/sdp")
}

// acceptsSDP reports whether the request's Accept allows an SDP body: no
// Accept does (RFC 3261 section 20.1), an empty one allows nothing, and a
// media range with q=0 is refused.
func acceptsSDP(req *sipmsg.Request) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	for _, h := range hs {
		for r := range strings.SplitSeq(h.Value(), ",") {
			mt, params, _ := strings.Cut(r, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/sdp", "application/*", "*/*":
			default:
				continue
			}
			if !zeroQ(params) {
				return true
			}
		}
	}
	return false
}

// zeroQ reports whether media-range parameters say q=0.
func zeroQ(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// uriUser is who a URI names as the engine sees it: the user part of a
// sip: or sips: URI with its escapes decoded (sip:%33900@ is 3900, RFC
// 3261 section 19.1.4), or a tel: URI's number. A user part whose decoding
// fails or gives control characters (%00) stays as it came.
func uriUser(u sipmsg.Uri) string {
	if strings.EqualFold(u.Scheme, "tel") {
		_, number, _ := strings.Cut(u.String(), ":")
		number, _, _ = strings.Cut(number, ";")
		return number
	}
	if !strings.Contains(u.User, "%") {
		return u.User
	}
	user, err := url.PathUnescape(u.User)
	if err != nil || strings.ContainsFunc(user, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return u.User
	}
	return user
}

func negotiateBody(body []byte) (negotiation, error) {
	d, err := parseSDP(body)
	if err != nil {
		return negotiation{}, err
	}
	return negotiate(d)
}

// rejectMedia answers an offer the driver cannot take: 488 with a Warning
// (RFC 3261 section 20.43) saying why, or 400 for SDP it cannot read.
func (s *Server) rejectMedia(req *sipmsg.Request, tx sipmsg.ServerTransaction, err error) {
	switch {
	case errors.Is(err, ErrNoCommonCodec):
		s.respond(req, tx, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
			sipmsg.NewHeader("Warning", `305 ivrd "Incompatible media format: PCMU or PCMA required"`))
	case errors.Is(err, ErrNoAudio):
		s.respond(req, tx, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
			sipmsg.NewHeader("Warning", `304 ivrd "Media type not available"`))
	default:
		s.respond(req, tx, sipmsg.StatusBadRequest, "Malformed SDP")
	}
}

// run runs the call from the INVITE's handler goroutine, which sipgo keeps
// alive for us: the INVITE transaction must stay open until its final
// response anyway.
func (c *call) run() {
	defer c.cleanup()
	c.start()
	defer c.cancel(ErrHungUp)
	c.serve(c.srv.cfg.Handler)
	c.end()
}

// start rings and wires the call's events before the handler runs.
func (c *call) start() {
	c.log.Info("call", "from", c.caller, "to", c.dialled, "transport", c.dlg.InviteRequest.Transport(),
		"source", c.dlg.InviteRequest.Source())

	// A CANCEL ends the call before answer. The transaction layer already
	// answers 200 to the CANCEL and 487 to the INVITE.
	if !c.tx.OnCancel(func(*sipmsg.Request) { c.endRemote("cancel") }) {
		c.endRemote("cancel")
	}
	if err := c.dlg.Respond(sipmsg.StatusRinging, "Ringing", nil); err != nil {
		c.log.Debug("send 180", "err", err)
	}

	// The media session reports DTMF and its end through hooks, on its own
	// receive goroutine: a call costs two goroutines (this one and media's).
	c.sess.SetHooks(media.Hooks{DTMF: c.onDTMF, End: c.onMediaEnd})
}

// end hangs up once the handler returned, saying why when the call's
// context ended for a reason of its own (media timeout, shutdown).
func (c *call) end() {
	reason := "normal clearing"
	if cause := context.Cause(c.ctx); cause != nil && !errors.Is(cause, ErrHungUp) {
		reason = cause.Error()
	}
	if err := c.Hangup(context.Background(), reason); err != nil {
		c.log.Info("hang up", "err", err)
	}
}

// serve runs the handler under recover: a panic ends this call only. It
// reports whether the handler returned without panicking.
func (c *call) serve(handler func(context.Context, ivr.Call)) (ok bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		c.log.Error("panic in call handler", "panic", r, "stack", string(debug.Stack()))
		c.mu.Lock()
		reject := c.out == nil && !c.answered && !c.finished
		if reject {
			c.finished = true
		}
		c.mu.Unlock()
		if reject {
			c.srv.respond(c.dlg.InviteRequest, c.tx, sipmsg.StatusInternalServerError, "Server Internal Error")
		}
	}()
	handler(c.ctx, c)
	return true
}

// legsWait bounds the wait for the agents' legs at the end of a call: a
// phone gone silent after ringing holds its CANCEL transaction for up to
// 64*T1, and the caller's port and place in ActiveCalls must not.
const legsWait = 5 * time.Second

// waitLegs waits for the call's agent legs to end, at most legsWait; the
// legs still end on their own after that.
func (c *call) waitLegs() {
	done := make(chan struct{})
	go func() {
		c.legs.Wait()
		close(done)
	}()
	t := time.NewTimer(legsWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.log.Warn("an agent's phone is slow to end its call; not waiting for it", "wait", legsWait)
	}
}

func (c *call) cleanup() {
	// The legs end themselves when the call's context ends (CANCEL or BYE
	// to the agent's phone); the call waits for them so that none outlives
	// it.
	c.mu.Lock()
	c.legsClosed = true
	c.mu.Unlock()
	c.waitLegs()
	c.release()
	if c.out != nil {
		c.out.close()
	}
	if err := c.sess.Close(); err != nil && !errors.Is(err, media.ErrClosed) {
		c.log.Debug("close media session", "err", err)
	}
	st := c.sess.Stats()
	c.log.Info("call ended", "cause", context.Cause(c.ctx), "stats", fmt.Sprintf("%+v", st))
	c.srv.removeCall(c)
}

// onDTMF forwards a key press from the media session to the engine.
func (c *call) onDTMF(ev media.DTMFEvent) {
	c.deliver(ivr.DTMF{Digit: ev.Digit, At: ev.At, Via: ev.Via})
}

// onMediaEnd turns the end of the media session into the call's cause: a
// media timeout ends the call.
func (c *call) onMediaEnd(cause error) {
	if errors.Is(cause, media.ErrMediaTimeout) {
		c.log.Info("media timeout")
		cause = ivr.ErrMediaTimeout
	}
	if cause == nil {
		cause = media.ErrClosed
	}
	c.cancel(cause)
}

func (c *call) deliver(d ivr.DTMF) {
	select {
	case c.dtmf <- d:
		c.log.Debug("dtmf", "digit", string(d.Digit), "via", d.Via)
	default:
		c.log.Warn("dtmf buffer full, key dropped", "digit", string(d.Digit), "via", d.Via)
	}
}

// injectDTMF takes a key from SIP INFO. It goes through the session so that
// keys from both paths share one ordered stream.
func (c *call) injectDTMF(d rune) {
	c.sess.InjectDTMF(d, media.ViaInfo)
}

// endRemote records that the peer ended the call (BYE, CANCEL).
func (c *call) endRemote(how string) {
	c.mu.Lock()
	// A customer's call is found by in-dialog requests once answered only.
	pending := c.out == nil && !c.answered && !c.finished && how == "bye"
	c.finished = true
	c.mu.Unlock()
	if pending {
		// A BYE in an early dialog: the INVITE still needs its final response.
		c.srv.respond(c.dlg.InviteRequest, c.tx, sipmsg.StatusRequestTerminated, "Request Terminated")
	}
	if c.out != nil {
		c.log.Info("customer hung up", "by", how)
	} else {
		c.log.Info("caller hung up", "by", how)
	}
	c.cancel(ivr.ErrCallerHangup)
}

func (c *call) onBye(req *sipmsg.Request, tx *trackedTx) {
	var err error
	if c.out != nil {
		err = c.out.dlg.ReadBye(req, tx)
	} else {
		err = c.dlg.ReadBye(req, tx)
	}
	if err != nil {
		c.log.Debug("read BYE", "err", err)
		c.srv.respond(req, tx, sipmsg.StatusBadRequest, "Bad Request")
		return
	}
	c.endRemote("bye")
}

// dialog is the call's sipgo dialog, whichever side ivrd is on.
func (c *call) dialog() *sipgo.Dialog {
	if c.out != nil {
		return &c.out.dlg.Dialog
	}
	return &c.dlg.Dialog
}

func (c *call) onAck(req *sipmsg.Request) {
	// ACKs reach a customer's call only for its re-INVITEs' 2xx.
	if c.out == nil {
		if err := c.dlg.ReadAck(req, nil); err != nil {
			c.log.Debug("ACK out of sequence", "err", err)
		}
	}
	select {
	case c.acks <- req:
	default:
	}
}

// Answer sends 200 OK with the SDP answer (or, for an INVITE without SDP,
// an offer whose answer comes in the ACK), starts the media and returns once
// the ACK is in.
func (c *call) Answer(ctx context.Context) error {
	c.mu.Lock()
	if c.answered {
		c.mu.Unlock()
		return nil
	}
	if c.finished || c.out != nil {
		// A customer's call reaches the engine answered: not answered, it
		// is over.
		c.mu.Unlock()
		return fmt.Errorf("answer call: %w", context.Cause(c.ctx))
	}
	c.answered = true
	var body []byte
	if c.offer {
		body = c.sdp.answer(c.local, c.neg)
	} else {
		body = c.sdp.offer(c.local)
	}
	neg, early := c.neg, c.offer
	c.mu.Unlock()

	res := sipmsg.NewSDPResponseFromRequest(c.dlg.InviteRequest, body)
	res.AppendHeader(sipmsg.HeaderClone(&c.contact().ContactHDR))
	res.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	res.AppendHeader(sipmsg.NewHeader("Server", c.srv.cfg.UserAgent))
	c.dlg.InviteResponse = res
	if err := c.tx.Respond(res); err != nil {
		return c.fail(fmt.Errorf("answer call: send 200: %w", err))
	}
	if early {
		if err := c.startMedia(neg); err != nil {
			return c.fail(err)
		}
	}
	ack, err := c.waitAck(ctx, c.tx, res)
	if errors.Is(err, ErrNoAck) {
		return c.fail(fmt.Errorf("answer call: %w", err))
	}
	if err != nil {
		return fmt.Errorf("answer call: %w", err)
	}
	if !early {
		neg, err := negotiateBody(ack.Body())
		if err != nil {
			// Too late for a 488: the handler's return sends the BYE.
			return c.fail(fmt.Errorf("answer call: late offer answer in ACK: %w", err))
		}
		c.mu.Lock()
		c.neg = neg
		c.mu.Unlock()
		if err := c.startMedia(neg); err != nil {
			return c.fail(err)
		}
	}
	c.log.Info("answered", "codec", neg.Codec, "remote", neg.Remote.String())
	return nil
}

// fail ends the call after an error of the driver and returns the error.
func (c *call) fail(err error) error {
	c.log.Error("call failed", "err", err)
	c.cancel(err)
	return err
}

func (c *call) contact() *sipgo.DialogUA {
	if c.out != nil {
		return c.out.dua
	}
	if sipmsg.IsReliable(c.dlg.InviteRequest.Transport()) {
		return c.srv.tcpUA
	}
	return c.srv.udpUA
}

func (c *call) startMedia(n negotiation) error {
	// A peer without telephone-event sends its keys as tones in the audio.
	c.sess.EnableInbandDTMF(n.EventPT == 0)
	if err := c.sess.Start(n.Remote, codecOf(n), n.EventPT); err != nil {
		return fmt.Errorf("start media: %w", err)
	}
	c.sess.SetSending(n.Sending())
	return nil
}

// waitAck waits for the ACK of a 2xx the call sent.
func (c *call) waitAck(ctx context.Context, tx sipmsg.ServerTransaction, res *sipmsg.Response) (*sipmsg.Request, error) {
	return waitAck(ctx, c.ctx, c.acks, tx, res, c.log)
}

// waitAck waits on acks for the ACK of a 2xx, retransmitting the 2xx from
// T1 doubling to T2 as RFC 3261 section 13.3.1.4 puts on the UAS core, for
// at most 64*T1, or until ctx or life (the dialog's own context) ends.
func waitAck(ctx, life context.Context, acks <-chan *sipmsg.Request, tx sipmsg.ServerTransaction,
	res *sipmsg.Response, log *slog.Logger) (*sipmsg.Request, error) {
	seq := res.CSeq().SeqNo
	interval := sipmsg.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(64 * sipmsg.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-acks:
			if ack.CSeq().SeqNo == seq {
				return ack, nil
			}
		case <-retransmit.C:
			if err := tx.Respond(res); err != nil {
				log.Debug("retransmit 2xx", "err", err)
			}
			interval = min(2*interval, sipmsg.T2)
			retransmit.Reset(interval)
		case <-giveUp.C:
			return nil, ErrNoAck
		case <-life.Done():
			return nil, context.Cause(life)
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// Play maps the prompts to media clips and starts them. Driver-native
// sounds (Audio.Sound) mean nothing here and are skipped.
func (c *call) Play(ctx context.Context, prompts []ivr.Audio) (ivr.Playback, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	if err := context.Cause(c.ctx); err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	clips := make([]media.Clip, 0, len(prompts))
	for _, a := range prompts {
		switch {
		case a.Path != "":
			samples, err := c.srv.cfg.Prompts.Load(a.Path)
			if err != nil {
				return nil, fmt.Errorf("play: load prompt: %w", err)
			}
			clips = append(clips, media.Clip{Samples: samples})
		case a.Sound != "":
			c.log.Debug("play: skip driver-native sound", "sound", a.Sound, "text", a.Text)
		case a.Silence > 0:
			clips = append(clips, media.Clip{Silence: a.Silence})
		}
	}
	return c.sess.Play(clips), nil
}

// Hangup ends the call: BYE once answered, 480 before. It is idempotent
// and a no-op once the peer has ended the call.
func (c *call) Hangup(ctx context.Context, reason string) error {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return nil
	}
	c.finished = true
	answered := c.answered
	c.mu.Unlock()
	defer c.cancel(ErrHungUp)

	if c.out != nil {
		// A customer's call is answered before anything can hang it up;
		// the ringing is Originate's business. The BYE has its own bound.
		if !answered {
			return nil
		}
		return c.out.bye(reason)
	}
	if !answered {
		c.log.Info("reject", "reason", reason)
		c.srv.respond(c.dlg.InviteRequest, c.tx, sipmsg.StatusTemporarilyUnavailable, "Temporarily Unavailable",
			reasonHeader(reason))
		return nil
	}
	// The BYE must go out even when the call's context is what ended (media
	// timeout, shutdown), so it runs on its own bounded context.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	inv := c.dlg.InviteRequest
	target := inv.Contact().Address
	bye := sipmsg.NewRequest(sipmsg.BYE, target)
	bye.SetTransport(inv.Transport())
	bye.AppendHeader(reasonHeader(reason))
	bye.AppendHeader(sipmsg.NewHeader("User-Agent", c.srv.cfg.UserAgent))
	c.log.Info("hang up", "reason", reason)
	if err := c.dlg.WriteBye(ctx, bye); err != nil {
		return fmt.Errorf("send bye: %w", err)
	}
	return nil
}

// reasonHeader is an RFC 3326 Reason with Q.850 cause 16, normal clearing.
func reasonHeader(text string) sipmsg.Header {
	text = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return -1
		}
		return r
	}, text)
	return sipmsg.NewHeader("Reason", `Q.850;cause=16;text="`+text+`"`)
}

func (s *Server) onReInvite(req *sipmsg.Request, tx *trackedTx) {
	if c := s.dialogCall(req); c != nil {
		c.onReInvite(req, tx)
	} else if l := s.dialogLeg(req); l != nil {
		l.onReInvite(req, tx)
	} else {
		s.respond(req, tx, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
}

// onReInvite handles a re-INVITE: hold, unhold, a new address or codec.
// The answer mirrors the peer's direction (sendonly -> recvonly).
func (c *call) onReInvite(req *sipmsg.Request, tx *trackedTx) {
	c.mu.Lock()
	confirmed := c.answered && !c.finished
	c.mu.Unlock()
	if !confirmed || c.dialog().LoadState() != sipmsg.DialogStateConfirmed {
		// RFC 3261 section 14.2: an INVITE while one is pending.
		c.srv.respond(req, tx, sipmsg.StatusRequestPending, "Request Pending")
		return
	}
	if err := c.dialog().ReadRequest(req, tx); err != nil {
		c.srv.respond(req, tx, sipmsg.StatusInternalServerError, "CSeq Out Of Order")
		return
	}
	if len(req.Body()) == 0 || !isSDP(req) {
		// An offerless re-INVITE asks for a fresh offer, answered in the
		// ACK; the driver keeps the current media instead, which RFC 3264
		// allows by offering it again unchanged.
		c.srv.respond(req, tx, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
			sipmsg.NewHeader("Warning", `399 ivrd "re-INVITE without SDP not supported"`))
		return
	}
	if !acceptsSDP(req) {
		c.srv.respond(req, tx, sipmsg.StatusNotAcceptable, "Not Acceptable",
			sipmsg.NewHeader("Accept", "application/sdp"))
		return
	}
	neg, err := negotiateBody(req.Body())
	if err != nil {
		c.log.Info("reject re-INVITE offer", "err", err)
		c.srv.rejectMedia(req, tx, err)
		return
	}
	c.mu.Lock()
	c.neg = neg
	body := c.sdp.answer(c.local, neg)
	c.mu.Unlock()

	c.sess.EnableInbandDTMF(neg.EventPT == 0)
	c.sess.SetRemote(neg.Remote, codecOf(neg), neg.EventPT)
	c.sess.SetSending(neg.Sending())
	c.log.Info("re-INVITE", "direction", neg.Direction.String(), "remote", neg.Remote.String(), "sending", neg.Sending())

	res := sipmsg.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sipmsg.HeaderClone(&c.contact().ContactHDR))
	if err := tx.Respond(res); err != nil {
		c.log.Debug("answer re-INVITE", "err", err)
		return
	}
	if _, err := c.waitAck(c.ctx, tx, res); err != nil {
		c.log.Debug("re-INVITE ACK", "err", err)
	}
}

func codecOf(n negotiation) media.Codec {
	codec := media.CodecPCMU
	if n.Codec == "PCMA" {
		codec = media.CodecPCMA
	}
	codec.PayloadType = n.PT
	return codec
}

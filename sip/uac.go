package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// dialSetup bounds what sending an INVITE takes before ivrd waits for
// its answer: resolving the host, connecting over TCP or TLS, writing
// the first INVITE.
const dialSetup = 5 * time.Second

// cancelGrace is how long after the INVITE went out a peer has to send a
// provisional response before ivrd, giving up, drops the INVITE without
// CANCEL: the first INVITE and its retransmission at T1 had their chance.
var cancelGrace = 2 * sipmsg.T1

// errCancelRing is the cause that makes sipgo CANCEL the INVITE.
var errCancelRing = errors.New("ringing cancelled")

type legState uint8

const (
	legRinging legState = iota
	legAnswered
	legEnded
)

// uac is ivrd's side of a dialog it opens with an INVITE: an agent's phone
// rung for a waiting call (agentLeg), or a customer called back through
// the trunk (an outbound call). Both need the same care, so it lives
// here once: the INVITE leaves from the listener of its transport, so
// that the peer's in-dialog requests reach the server's handlers; one
// digest challenge is answered; giving up while it rings follows
// RFC 3261 section 9.1 (CANCEL only after a provisional response); a 2xx
// that crosses the CANCEL is acknowledged and hung up. The owner builds
// the INVITE, decides when to give up, and runs the media.
type uac struct {
	srv   *Server
	log   *slog.Logger
	id    string // Call-ID
	dua   *sipgo.DialogUA
	laddr sipmsg.Addr // where UDP requests leave from: the listener
	dlg   *sipgo.DialogClientSession
	auth  Credentials
	// op begins the errors ("ring agent"), peer names the far end of
	// the signalling in logs and errors ("agent phone", "trunk"), party
	// who is hung up ("agent", "customer").
	op, peer, party string
	// authErr is wrapped when a challenge cannot be answered (none
	// configured, or the credentials refused); refused maps the other
	// final responses to the owner's reasons.
	authErr error
	refused func(res *sipmsg.Response) error

	ringCtx  context.Context // WaitAnswer's: cancelled to give up ringing
	stopRing context.CancelCauseFunc
	sentAt   time.Time // the first INVITE went out

	mu          sync.Mutex
	state       legState
	provisional bool        // the current INVITE transaction had a 1xx: a CANCEL may go
	challenged  bool        // the INVITE was challenged once already
	cancelErr   error       // why ivrd gave up ringing, once it did
	grace       *time.Timer // drops an INVITE with no provisional response yet
	dialogID    string      // set once answered, to match in-dialog requests
}

func (u *uac) init() {
	u.ringCtx, u.stopRing = context.WithCancelCause(context.Background())
}

// send writes the INVITE (at most dialSetup, or until ctx ends).
func (u *uac) send(ctx context.Context, req *sipmsg.Request) error {
	setupCtx, cancel := context.WithTimeout(ctx, dialSetup)
	defer cancel()
	if u.laddr.IP != nil {
		if err := u.srv.udpReady(setupCtx); err != nil {
			return fmt.Errorf("send invite: %w", err)
		}
	}
	dlg, err := u.dua.WriteInvite(setupCtx, req)
	if err != nil {
		return fmt.Errorf("send invite: %w", err)
	}
	u.dlg = dlg
	u.sentAt = time.Now()
	return nil
}

// wait waits for the final response to the INVITE, or for ivrd to give up
// (giveUp). It returns the 2xx once the dialog is answered, the state then
// legAnswered; otherwise why not, the 2xx of a peer that answered as ivrd
// gave up acknowledged and hung up.
func (u *uac) wait() (*sipmsg.Response, error) {
	err := u.dlg.WaitAnswer(u.ringCtx, sipgo.AnswerOptions{
		OnResponse: u.onResponse,
		Username:   u.auth.Username,
		Password:   u.auth.Password,
	})
	res := u.dlg.InviteResponse
	u.mu.Lock()
	cancelErr := u.cancelErr
	if err == nil && cancelErr == nil {
		u.state = legAnswered
	}
	if u.grace != nil {
		u.grace.Stop()
	}
	u.mu.Unlock()

	switch {
	case err == nil && cancelErr == nil:
		return res, nil
	case res != nil && res.IsSuccess():
		// The peer answered as ivrd gave up (the 200 crossed the CANCEL):
		// acknowledge and hang up (RFC 3261 section 9.1).
		u.ackAndBye(res, "cancelled")
		if cancelErr != nil {
			return nil, cancelErr
		}
		return nil, fmt.Errorf("%s: %w", u.op, err)
	case cancelErr != nil:
		if errors.Is(context.Cause(u.ringCtx), sipgo.WaitAnswerForceCancelErr) && res != nil && res.IsProvisional() {
			// A provisional response came as ivrd gave up without CANCEL.
			u.sendCancel()
		}
		return nil, cancelErr
	}
	var dr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dr):
		return nil, u.refused(dr.Res)
	case errors.Is(err, u.authErr):
		return nil, err // from onResponse
	case errors.Is(err, sipmsg.ErrTransactionTimeout):
		return nil, fmt.Errorf("%s: %s unreachable: %w", u.op, u.peer, err)
	}
	return nil, fmt.Errorf("%s: %w", u.op, err)
}

// onResponse sees each response to the INVITE, on wait's goroutine.
func (u *uac) onResponse(res *sipmsg.Response) error {
	switch code := res.StatusCode; {
	case code < 200:
		u.mu.Lock()
		u.provisional = true
		if u.cancelErr != nil {
			// ivrd gave up while waiting for this: CANCEL now.
			u.stopRing(errCancelRing)
		}
		u.mu.Unlock()
		if code == sipmsg.StatusTrying {
			u.log.Debug(u.peer + " trying")
		} else {
			// Early media (183) is ignored: a caller keeps hearing the
			// hold, a customer's call has nothing to hear yet.
			u.log.Info(u.peer+" ringing", "status", code, "reason", res.Reason)
		}
	case code == sipmsg.StatusUnauthorized || code == sipmsg.StatusProxyAuthRequired:
		u.mu.Lock()
		again := u.challenged
		u.challenged = true
		u.provisional = false // the authenticated INVITE is a new transaction
		u.mu.Unlock()
		if again {
			return fmt.Errorf("%s: credentials refused (%d %s): %w", u.op, code, res.Reason, u.authErr)
		}
		if u.auth.Password != "" {
			u.log.Info(u.peer+" asks for authentication", "status", code)
		}
	}
	return nil
}

// giveUp stops the ringing with err as the reason, if the INVITE still
// rings and ivrd has not given up already.
func (u *uac) giveUp(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state == legRinging {
		u.giveUpLocked(err)
	}
}

// giveUpLocked is giveUp with u.mu held and the INVITE ringing.
func (u *uac) giveUpLocked(err error) {
	if u.cancelErr != nil || err == nil {
		return
	}
	u.cancelErr = err
	// RFC 3261 section 9.1: no CANCEL before a provisional response. One
	// may be on its way (onResponse then cancels); past the grace the peer
	// is unreachable: give up the transaction rather than wait for Timer B.
	switch grace := time.Until(u.sentAt.Add(cancelGrace)); {
	case u.provisional:
		u.stopRing(errCancelRing)
	case grace > 0:
		u.grace = time.AfterFunc(grace, func() { u.stopRing(sipgo.WaitAnswerForceCancelErr) })
	default:
		u.stopRing(sipgo.WaitAnswerForceCancelErr)
	}
}

// confirm completes an answered INVITE: it reads the SDP answer and sends
// the ACK. The dialog is known before the ACK leaves: the peer may hang up
// right after it, and its BYE must find the dialog. An answer ivrd cannot
// use, or an ACK that cannot go, hangs up.
func (u *uac) confirm(res *sipmsg.Response) (negotiation, error) {
	neg, err := negotiateBody(res.Body())
	if err != nil {
		u.ackAndBye(res, "unusable SDP answer")
		return neg, fmt.Errorf("%s: answer: %w", u.op, err)
	}
	u.mu.Lock()
	u.dialogID = u.dlg.ID
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := u.dlg.Ack(ctx); err != nil {
		u.bye("ACK failed")
		return neg, fmt.Errorf("%s: send ACK: %w", u.op, err)
	}
	return neg, nil
}

// matches reports whether an in-dialog request from the peer belongs to
// the answered dialog.
func (u *uac) matches(req *sipmsg.Request) bool {
	id, err := sipmsg.DialogIDFromRequestUAC(req)
	if err != nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dialogID != "" && u.dialogID == id
}

// ackAndBye ends a dialog ivrd will not use: ACK for the 2xx (nil when
// already sent), then BYE.
func (u *uac) ackAndBye(res *sipmsg.Response, reason string) {
	if res != nil {
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		err := u.dlg.Ack(ctx)
		cancel()
		if err != nil {
			u.log.Debug("ack", "err", err)
		}
	}
	if err := u.bye(reason); err != nil {
		u.log.Info("hang up "+u.party, "err", err)
	}
}

// bye hangs up the answered peer, with the reason in an RFC 3326 Reason
// header, and returns with its response (at most byeTimeout).
func (u *uac) bye(reason string) error {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	target := u.dlg.InviteRequest.Recipient
	if c := u.dlg.InviteResponse.Contact(); c != nil {
		target = c.Address
	}
	bye := sipmsg.NewRequest(sipmsg.BYE, *target.Clone())
	bye.Laddr = u.laddr
	bye.AppendHeader(reasonHeader(reason))
	bye.AppendHeader(sipmsg.NewHeader("User-Agent", u.srv.cfg.UserAgent))
	u.log.Info("hang up "+u.party, "reason", reason)
	if err := u.dlg.WriteBye(ctx, bye); err != nil {
		return fmt.Errorf("send bye: %w", err)
	}
	return nil
}

// sendCancel cancels the INVITE after WaitAnswer gave it up: for a 1xx
// that arrived as ivrd stopped waiting. Best effort, bounded.
func (u *uac) sendCancel() {
	inv := u.dlg.InviteRequest
	req := sipmsg.NewRequest(sipmsg.CANCEL, inv.Recipient)
	req.AppendHeader(sipmsg.HeaderClone(inv.Via()))
	req.AppendHeader(sipmsg.HeaderClone(inv.From()))
	req.AppendHeader(sipmsg.HeaderClone(inv.To()))
	req.AppendHeader(sipmsg.HeaderClone(inv.CallID()))
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sipmsg.CANCEL})
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	sipmsg.CopyHeaders("Route", inv, req)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.Laddr = inv.Laddr
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	prebuilt := func(*sipgo.Client, *sipmsg.Request) error { return nil }
	if res, err := u.dua.Client.Do(ctx, req, prebuilt); err != nil {
		u.log.Debug("cancel", "err", err)
	} else {
		u.log.Debug("cancel", "status", res.StatusCode)
	}
}

// close lets go of the INVITE once the dialog is over (or never was).
func (u *uac) close() {
	u.stopRing(ErrLegEnded)
	if u.dlg != nil {
		u.dlg.Close()
	}
}

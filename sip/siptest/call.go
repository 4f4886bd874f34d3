package siptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// retransmit is how often an unanswered request is sent again (RFC 3261
// timer T1, not doubled: the peer is local).
const retransmit = 500 * time.Millisecond

// Call is one call placed by a UA, with its own RTP socket.
type Call struct {
	ua      *UA
	opts    options
	callID  string
	fromTag string
	toTag   string
	number  string
	ruri    string // request URI of the INVITE
	target  string // request URI for in-dialog requests: the Contact of the 200
	cseq    int
	status  int

	rx       chan *message
	ack      atomic.Pointer[[]byte] // set once the 2xx is acknowledged
	bye      chan struct{}          // closed when the server hangs up
	byeOnce  sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	rtp       *net.UDPConn
	localRTP  netip.AddrPort
	remoteRTP netip.AddrPort
	stamps    bool // the kernel stamps arrivals
	oob       []byte

	// Our RTP stream: silence frames and telephone-events share it.
	sendMu sync.Mutex
	ssrc   uint32
	seq    uint16
	ts     uint32
	quiet  bool // a key is being sent: no silence frames
}

// Invite calls number (the user part of sip:number@server) and returns once
// the call is answered and acknowledged. A final response other than 2xx is
// returned as a *StatusError. The INVITE is sent again every 500 ms until
// the first response; ctx bounds the whole wait.
func (u *UA) Invite(ctx context.Context, number string, opts ...Option) (*Call, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	rtp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(u.local.Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("listen rtp: %w", err)
	}
	_ = rtp.SetReadBuffer(1 << 20)
	c := &Call{
		ua:       u,
		opts:     o,
		callID:   fmt.Sprintf("siptest-%016x@%s", rand.Uint64(), u.local.Addr()),
		fromTag:  strconv.FormatUint(rand.Uint64(), 36),
		number:   number,
		ruri:     fmt.Sprintf("sip:%s@%s", number, u.server),
		cseq:     1,
		rx:       make(chan *message, 16),
		bye:      make(chan struct{}),
		stop:     make(chan struct{}),
		rtp:      rtp,
		localRTP: rtp.LocalAddr().(*net.UDPAddr).AddrPort(),
		stamps:   enableTimestamps(rtp),
		oob:      make([]byte, 128),
		ssrc:     rand.Uint32(),
		seq:      uint16(rand.Uint32()),
		ts:       rand.Uint32(),
	}
	c.target = c.ruri
	u.register(c)
	if err := c.invite(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if o.silence {
		c.wg.Add(1)
		go c.sendSilence()
	}
	return c, nil
}

func (c *Call) invite(ctx context.Context) error {
	sdp := strings.Join([]string{
		"v=0",
		fmt.Sprintf("o=- 1 1 IN IP4 %s", c.localRTP.Addr()),
		"s=-",
		fmt.Sprintf("c=IN IP4 %s", c.localRTP.Addr()),
		"t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 101", c.localRTP.Port()),
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=fmtp:101 0-15",
		"a=ptime:20",
		"a=sendrecv",
		"",
	}, "\r\n")
	branch := newBranch()
	msg := []byte(c.request("INVITE", c.ruri, 1, branch,
		"Content-Type: application/sdp\r\n", sdp))

	retrans := time.NewTicker(retransmit)
	defer retrans.Stop()
	if err := c.ua.send(msg); err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	provisional := false
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("invite: no final response: %w", ctx.Err())
		case <-retrans.C:
			if !provisional {
				if err := c.ua.send(msg); err != nil {
					return fmt.Errorf("invite: %w", err)
				}
			}
		case m := <-c.rx:
			if _, method := m.cseq(); method != "INVITE" {
				continue
			}
			if m.status < 200 {
				provisional = true
				continue
			}
			c.status = m.status
			c.toTag = tagOf(m.header("to"))
			if m.status >= 300 {
				// The INVITE transaction acknowledges a failure itself,
				// with the INVITE's branch (RFC 3261 section 17.1.1.3).
				_ = c.ua.send([]byte(c.request("ACK", c.ruri, 1, branch, "", "")))
				return &StatusError{Method: "INVITE", Code: m.status, Reason: m.reason}
			}
			if t := uriOf(m.header("contact")); t != "" {
				c.target = t
			}
			remote, err := sdpAudio(m.body)
			if err != nil {
				return fmt.Errorf("invite: answer: %w", err)
			}
			c.remoteRTP = remote
			ack := []byte(c.request("ACK", c.target, 1, newBranch(), "", ""))
			c.ack.Store(&ack)
			if err := c.ua.send(ack); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			return nil
		}
	}
}

// request builds a request of the dialog; the To tag is added once known.
func (c *Call) request(method, ruri string, cseq int, branch, extra, body string) string {
	to := fmt.Sprintf("<sip:%s@%s>", c.number, c.ua.server)
	if c.toTag != "" {
		to += ";tag=" + c.toTag
	}
	local := c.ua.local
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%s@%s>;tag=%s\r\n"+
		"To: %s\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"Contact: <sip:%s@%s>\r\n"+
		"%s"+
		"Content-Length: %d\r\n\r\n%s",
		method, ruri, local, branch, c.opts.user, local.Addr(), c.fromTag, to, c.callID,
		cseq, method, c.opts.user, local, extra, len(body), body)
}

func newBranch() string { return "z9hG4bK" + strconv.FormatUint(rand.Uint64(), 36) }

// deliver hands a response to the waiting request, or acknowledges again a
// retransmitted 2xx whose ACK was lost.
func (c *Call) deliver(m *message) {
	if _, method := m.cseq(); method == "INVITE" && m.status >= 200 && m.status < 300 {
		if ack := c.ack.Load(); ack != nil {
			_ = c.ua.send(*ack)
			return
		}
	}
	select {
	case c.rx <- m:
	default:
	}
}

func (c *Call) hungUp() { c.byeOnce.Do(func() { close(c.bye) }) }

// CallID returns the Call-ID of the call.
func (c *Call) CallID() string { return c.callID }

// Status returns the final status code of the INVITE.
func (c *Call) Status() int { return c.status }

// LocalRTP returns the address of the call's RTP socket, offered in the SDP.
func (c *Call) LocalRTP() netip.AddrPort { return c.localRTP }

// RemoteRTP returns the server's RTP address from the SDP answer.
func (c *Call) RemoteRTP() netip.AddrPort { return c.remoteRTP }

// Done is closed when the server hangs up (its BYE was answered with 200).
func (c *Call) Done() <-chan struct{} { return c.bye }

// Bye hangs up: it sends BYE, again every 500 ms, until its final response
// or ctx is done. It returns nil at once if the server hung up first.
func (c *Call) Bye(ctx context.Context) error {
	select {
	case <-c.bye:
		return nil
	default:
	}
	c.cseq++
	cseq := c.cseq
	msg := []byte(c.request("BYE", c.target, cseq, newBranch(), "", ""))
	retrans := time.NewTicker(retransmit)
	defer retrans.Stop()
	if err := c.ua.send(msg); err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bye: no final response: %w", ctx.Err())
		case <-retrans.C:
			if err := c.ua.send(msg); err != nil {
				return fmt.Errorf("bye: %w", err)
			}
		case m := <-c.rx:
			if n, method := m.cseq(); method != "BYE" || n != cseq || m.status < 200 {
				continue
			}
			if m.status >= 300 {
				return &StatusError{Method: "BYE", Code: m.status, Reason: m.reason}
			}
			c.hungUp()
			return nil
		}
	}
}

// Close stops the call's RTP and closes its socket; it sends nothing (see
// Bye). It is idempotent.
func (c *Call) Close() error {
	var err error
	c.stopOnce.Do(func() {
		close(c.stop)
		c.ua.unregister(c)
		err = c.rtp.Close()
		c.wg.Wait()
	})
	return err
}

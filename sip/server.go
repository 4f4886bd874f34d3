package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
)

// allowed is the Allow header of the driver's responses.
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"

// maxUDPPayload is the largest datagram UDP carries over IPv4.
const maxUDPPayload = 65507

func init() {
	// sipgo refuses to write a UDP message over 1300 bytes (UDPMTUSize
	// less 200), responses included, and logs nothing: a request with long
	// headers (RFC 4475 section 3.1.1.7) was parsed, handled and its answer
	// silently lost. RFC 3261 section 18.1.1 sends requests that large over
	// TCP, which is the client's business, and ivrd's own requests stay far
	// below it; a response goes back over the transport its request came
	// on, whatever its size.
	sipmsg.UDPMTUSize = maxUDPPayload + 200
}

// Server is a SIP user agent server that answers calls and runs each one
// through Config.Handler.
type Server struct {
	cfg Config
	log *slog.Logger

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	parser *sipmsg.Parser
	flood  *floodGuard

	listenOnce sync.Once
	listenErr  error
	udpConn    net.PacketConn
	tcpLn      *idleListener
	udpUA      *sipgo.DialogUA // dialogs of calls that came in over UDP
	tcpUA      *sipgo.DialogUA
	tlsUA      *sipgo.DialogUA // agent phones dialled over TLS (sips:)
	udpLaddr   sipmsg.Addr     // the UDP listener, where agent INVITEs leave from

	draining atomic.Bool
	closed   atomic.Bool
	full     atomic.Bool // at MaxCalls: logged once until a call is taken again
	// life ends with ivr.ErrShutdown at Close: it ends what the server
	// itself started, the agents' phones rung by Server.Dial.
	life    context.Context
	endLife context.CancelCauseFunc

	mu      sync.Mutex
	calls   map[string]*call     // inbound and outbound, by Call-ID
	legs    map[string]*agentLeg // agent phones rung by ivrd, by Call-ID
	ownLegs int                  // of those, the ones Server.Dial rang
	idle    chan struct{}        // closed when no call nor ownLegs is left
}

// NewServer checks the config and prepares the SIP stack. Nothing is bound
// until Listen or ListenAndServe.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "sip")
	s := &Server{
		cfg:    cfg,
		log:    log,
		parser: lwsParser(),
		flood:  newFloodGuard(cfg.Flood, log),
		calls:  make(map[string]*call),
		legs:   make(map[string]*agentLeg),
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentParser(s.parser),
		sipgo.WithUserAgentTransactionLayerOptions(
			sipmsg.WithTransactionLayerLogger(log),
			// Stray responses (retransmissions after a transaction ended,
			// torture) are only worth a debug line.
			sipmsg.WithTransactionLayerUnhandledResponseHandler(func(r *sipmsg.Response) {
				log.Debug("unmatched response", "status", r.StatusCode, "source", r.Source())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sipmsg.WithTransportLayerLogger(log),
			sipmsg.WithTransportLayerReadFilter(s.readFilter),
		),
		sipgo.WithUserAgenTLSConfig(cfg.AgentTLS),
	)
	if err != nil {
		return nil, fmt.Errorf("create user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("create sip server: %w", err)
	}
	s.ua, s.srv = ua, srv
	s.life, s.endLife = context.WithCancelCause(context.Background())
	srv.OnInvite(s.handle(s.onInvite, true))
	srv.OnAck(s.handle(s.onAck, true))
	srv.OnCancel(s.handle(s.onCancel, true))
	srv.OnBye(s.handle(s.onBye, true))
	srv.OnOptions(s.handle(s.onOptions, true))
	srv.OnInfo(s.handle(s.onInfo, true))
	srv.OnNoRoute(s.handle(s.onNoRoute, false))
	return s, nil
}

// Listen binds the configured transports. It is called by ListenAndServe;
// calling it first lets a caller learn the bound addresses (Addr) before
// serving, which matters with port 0.
func (s *Server) Listen() error {
	s.listenOnce.Do(func() { s.listenErr = s.listen() })
	return s.listenErr
}

func (s *Server) listen() error {
	if s.cfg.UDPAddr != "" {
		conn, err := net.ListenPacket("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", s.cfg.UDPAddr, err)
		}
		s.udpConn = conn
		ua, err := s.dialogUA(conn.LocalAddr(), "udp")
		if err != nil {
			conn.Close()
			return err
		}
		s.udpUA = ua
		ap, _ := netip.ParseAddrPort(conn.LocalAddr().String())
		s.udpLaddr = sipmsg.Addr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())}
	}
	if s.cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err == nil {
			s.tcpLn = newIdleListener(ln, s.cfg.TCPIdleTimeout)
			s.tcpUA, err = s.dialogUA(ln.Addr(), "tcp")
			if err != nil {
				ln.Close()
			}
		}
		if err != nil {
			if s.udpConn != nil {
				s.udpConn.Close()
			}
			return fmt.Errorf("listen tcp %s: %w", s.cfg.TCPAddr, err)
		}
	}
	addr := s.Addr("udp")
	if addr == nil {
		addr = s.Addr("tcp")
	}
	ua, err := s.dialogUA(addr, "tls")
	if err != nil {
		s.closeListeners()
		return err
	}
	s.tlsUA = ua
	return nil
}

func (s *Server) closeListeners() {
	if s.udpConn != nil {
		s.udpConn.Close()
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
}

// host is the address ivrd gives in its Contact, Via and From headers for
// a listener bound at ap: the listener's own address, or MediaIP when it
// listens on every interface.
func (s *Server) host(ap netip.AddrPort) netip.Addr {
	host := ap.Addr().Unmap()
	if host.IsUnspecified() && s.cfg.MediaIP.IsValid() {
		host = s.cfg.MediaIP
	}
	return host
}

// dialogUA builds the dialog user agent of one transport: its Contact
// points at the listener, and its client writes the listener's address in
// the Via of the requests it sends (BYE, and the INVITEs to agent phones),
// rather than whatever address a socket bound to every interface reports.
// In-dialog requests (BYE) go back to where the INVITE came from, which is
// what works behind NAT and over TCP.
//
// ivrd has no TLS listener: a phone dialled over TLS gets a Contact with
// the port of the connection ivrd opened (filled in by sipgo once the
// connection exists) and sends its requests on that connection.
func (s *Server) dialogUA(addr net.Addr, transport string) (*sipgo.DialogUA, error) {
	ap, _ := netip.ParseAddrPort(addr.String())
	host := s.host(ap)
	uri := sipmsg.Uri{User: "ivrd", Host: host.String(), Port: int(ap.Port())}
	opts := []sipgo.ClientOption{sipgo.WithClientLogger(s.log), sipgo.WithClientHostname(host.String())}
	switch transport {
	case "udp":
	case "tls":
		uri.Scheme = "sips"
		uri.Port = 0
	default:
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", transport)
	}
	if uri.Port != 0 {
		opts = append(opts, sipgo.WithClientPort(uri.Port))
	}
	client, err := sipgo.NewClient(s.ua, opts...)
	if err != nil {
		return nil, fmt.Errorf("create sip client: %w", err)
	}
	return &sipgo.DialogUA{
		Client:         client,
		ContactHDR:     sipmsg.ContactHeader{Address: uri},
		RewriteContact: true,
	}, nil
}

// Addr returns the bound address of "udp" or "tcp", or nil.
func (s *Server) Addr(network string) net.Addr {
	switch network {
	case "udp":
		if s.udpConn != nil {
			return s.udpConn.LocalAddr()
		}
	case "tcp":
		if s.tcpLn != nil {
			return s.tcpLn.Addr()
		}
	}
	return nil
}

// udpReady waits until sipgo serves the UDP listener, at most until ctx
// ends. The requests ivrd starts over UDP (INVITEs to agents' phones and
// to the trunk) leave from that socket, which sipgo knows only once
// ListenAndServe has handed it over: before, sipgo would try to bind the
// port a second time and fail. A callback due at start-up may come that
// early.
func (s *Server) udpReady(ctx context.Context) error {
	pool := s.ua.TransportLayer().Pool("udp")
	addr := s.udpConn.LocalAddr().String()
	for {
		if c := pool.Get(addr); c != nil {
			c.Ref(-1) // Get counts a reference; the listener's count stays
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the udp listener to serve: %w", context.Cause(ctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ListenAndServe serves both transports until ctx is done or Close, then
// closes the listeners and returns. Calls in progress are not touched by
// ctx: use Drain, Wait and Close for a graceful stop.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if s.closed.Load() {
		return ErrServerClosed
	}
	if err := s.Listen(); err != nil {
		return err
	}
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	// A transport stops serving on an error, or because Close closed its
	// listener; either way the server stops.
	stopped := make(chan struct{}, 2)
	serve := func(name string, fn func() error) {
		defer wg.Done()
		err := fn()
		if ctx.Err() == nil && !s.closed.Load() {
			errMu.Lock()
			if first == nil {
				first = fmt.Errorf("serve %s: %w", name, err)
			}
			errMu.Unlock()
		}
		stopped <- struct{}{}
	}
	if s.udpConn != nil {
		wg.Add(1)
		go serve("udp", func() error { return s.srv.ServeUDP(s.udpConn) })
		s.log.Info("listening", "transport", "udp", "addr", s.udpConn.LocalAddr().String())
	}
	if s.tcpLn != nil {
		wg.Add(1)
		go serve("tcp", func() error { return s.srv.ServeTCP(s.tcpLn) })
		s.log.Info("listening", "transport", "tcp", "addr", s.tcpLn.Addr().String())
	}
	select {
	case <-ctx.Done():
	case <-stopped:
	}
	s.closeListeners()
	wg.Wait()
	return first
}

// Drain makes the server refuse new calls (503 with Retry-After) while the
// calls in progress go on, for a graceful shutdown.
func (s *Server) Drain() {
	if !s.draining.Swap(true) {
		s.log.Info("draining: refusing new calls")
	}
}

// ActiveCalls is the number of calls in progress: callers' calls, and
// customers' calls from Originate from the INVITE on. Agents' phones are
// not calls of their own.
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// busy is whether anything is in progress that Wait waits for: calls, and
// the agents' phones that Server.Dial rang. Called with s.mu held.
func (s *Server) busy() bool { return len(s.calls) > 0 || s.ownLegs > 0 }

// Wait waits until no call is in progress, nor any agent's phone rung by
// Server.Dial, or ctx is done.
func (s *Server) Wait(ctx context.Context) error {
	s.mu.Lock()
	if !s.busy() {
		s.mu.Unlock()
		return nil
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for calls: %w", context.Cause(ctx))
	}
}

// Close ends every call in progress (their contexts end with
// ivr.ErrShutdown and each is hung up as its handler returns; customers'
// calls still ringing are cancelled) and the agents' phones rung by
// Server.Dial, waits for them until ctx is done, closes the listeners and
// releases the SIP stack; ListenAndServe then returns.
func (s *Server) Close(ctx context.Context) error {
	s.closed.Store(true)
	s.Drain()
	s.mu.Lock()
	for _, c := range s.calls {
		c.cancel(ivr.ErrShutdown)
	}
	s.mu.Unlock()
	s.endLife(ivr.ErrShutdown)
	err := s.Wait(ctx)
	// The listeners stop before the stack: a late retransmission read from
	// a listener once sipgo's connection pool is cleared would make sipgo
	// open a socket that nothing closes.
	s.closeListeners()
	s.ua.Close()
	return err
}

// addCall adds a caller's call: errDuplicate when its Call-ID is a call's
// in progress, errFull at MaxCalls (checked under s.mu, so that two
// INVITEs cannot both take the last place).
func (s *Server) addCall(c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.calls[c.id]; dup {
		return errDuplicate
	}
	if s.cfg.MaxCalls > 0 && len(s.calls) >= s.cfg.MaxCalls {
		return errFull
	}
	s.markBusy()
	s.calls[c.id] = c
	if s.full.CompareAndSwap(true, false) {
		s.log.Info("taking calls again", "active_calls", len(s.calls), "max_calls", s.cfg.MaxCalls)
	}
	return nil
}

// addOutbound adds a customer's call unless the server drains: checked
// under s.mu, so that Close either refuses the call or ends it.
func (s *Server) addOutbound(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	if _, dup := s.calls[c.id]; dup {
		return false
	}
	s.markBusy()
	s.calls[c.id] = c
	return true
}

func (s *Server) removeCall(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[c.id] != c {
		return
	}
	delete(s.calls, c.id)
	s.markIdle()
}

// addOwnLeg counts an agent's phone rung by Server.Dial, unless the
// server drains; ownLegDone uncounts it.
func (s *Server) addOwnLeg() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.markBusy()
	s.ownLegs++
	return true
}

func (s *Server) ownLegDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ownLegs--
	s.markIdle()
}

// markBusy opens a new idle channel when the server was idle; markIdle
// closes it when nothing is left. Called with s.mu held, before adding
// and after removing.
func (s *Server) markBusy() {
	if !s.busy() {
		s.idle = make(chan struct{})
	}
}

func (s *Server) markIdle() {
	if !s.busy() {
		close(s.idle)
	}
}

// dialogCall finds the call an in-dialog request belongs to: a caller's
// call (ivrd the UAS of its dialog) or a customer's (ivrd the UAC).
func (s *Server) dialogCall(req *sipmsg.Request) *call {
	s.mu.Lock()
	c := s.calls[req.CallID().Value()]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	if c.out != nil {
		if !c.out.matches(req) {
			return nil
		}
		return c
	}
	id, err := sipmsg.DialogIDFromRequestUAS(req)
	if err != nil || c.dlg.ID != id {
		return nil
	}
	return c
}

// trackedTx remembers whether a final response went out, so that a
// recovered panic answers 500 only when nothing final was sent.
type trackedTx struct {
	sipmsg.ServerTransaction
	final atomic.Bool
}

func (t *trackedTx) Respond(res *sipmsg.Response) error {
	if res.StatusCode >= 200 {
		t.final.Store(true)
	}
	return t.ServerTransaction.Respond(res)
}

// handle wraps a request handler with validation and panic recovery.
// sipgo runs handlers without recover, so one bad request would otherwise
// take the daemon down with every call on it. A routed handler's requests
// are also inspected (RFC 3261 section 8.2.2: Request-URI scheme, Require)
// once the method is known to be served; the others get 405 or 501 first.
func (s *Server) handle(h func(*sipmsg.Request, *trackedTx), routed bool) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		ttx := &trackedTx{ServerTransaction: tx}
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			s.log.Error("panic in sip handler", "method", req.Method.String(), "panic", r, "stack", string(debug.Stack()))
			if !req.IsAck() && !ttx.final.Load() {
				s.respond(req, ttx, sipmsg.StatusInternalServerError, "Server Internal Error")
			}
		}()
		code, reason := validate(req)
		if code == 0 && routed && !req.IsAck() && !req.IsCancel() {
			var hdrs []sipmsg.Header
			code, reason, hdrs = inspect(req)
			if code != 0 {
				s.log.Debug("request refused", "method", req.Method.String(), "status", code, "reason", reason)
				s.respond(req, ttx, code, reason, hdrs...)
				return
			}
		}
		if code != 0 {
			s.log.Debug("invalid request", "method", req.Method.String(), "status", code, "reason", reason)
			if !req.IsAck() {
				s.respond(req, ttx, code, reason)
				s.closeBroken(req)
			}
			return
		}
		h(req, ttx)
	}
}

// singleHeaders are the headers a request may carry once only (RFC 3261
// section 7.3.1 and table 2): two of them leave no way to tell which one
// counts (RFC 4475 sections 3.3.8 and 3.3.9).
var singleHeaders = []string{"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type"}

// validate checks what the parser lets through but RFC 3261 forbids
// (sections 7.3.1, 8.2, 19.1.1, 20). It returns 0 for a valid request.
func validate(req *sipmsg.Request) (int, string) {
	if req.SipVersion != "SIP/2.0" {
		return sipmsg.StatusVersionNotSupported, "Version Not Supported"
	}
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
		return sipmsg.StatusBadRequest, "Missing Required Header"
	}
	if req.CallID().Value() == "" {
		return sipmsg.StatusBadRequest, "Empty Call-ID"
	}
	for _, name := range singleHeaders {
		if len(req.GetHeaders(name)) > 1 {
			return sipmsg.StatusBadRequest, "Multiple " + name + " Values"
		}
	}
	// sipgo upper-cases the method of the request line, not the CSeq's:
	// methods are case-sensitive, but a method that differs from its CSeq
	// by case only is one sipgo already took for the other.
	if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
		return sipmsg.StatusBadRequest, "CSeq Method Mismatch"
	}
	// Escaped headers belong to a URI in a header, never to the
	// Request-URI (RFC 4475 section 3.1.2.11).
	if len(req.Recipient.Headers) > 0 {
		return sipmsg.StatusBadRequest, "Headers In Request-URI"
	}
	return 0, ""
}

// inspect checks what a UAS must check of a request it serves before
// handling it (RFC 3261 section 8.2.2): the scheme of the Request-URI
// (416) and the extensions it requires (420, with Unsupported listing
// them: ivrd implements none). It returns 0 for a request to handle.
func inspect(req *sipmsg.Request) (int, string, []sipmsg.Header) {
	if !servedScheme(req.Recipient.Scheme) {
		return statusUnsupportedURIScheme, "Unsupported URI Scheme", nil
	}
	var required []string
	for _, h := range req.GetHeaders("Require") {
		for tag := range strings.SplitSeq(h.Value(), ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				required = append(required, tag)
			}
		}
	}
	if len(required) > 0 {
		return sipmsg.StatusBadExtension, "Bad Extension",
			[]sipmsg.Header{sipmsg.NewHeader("Unsupported", strings.Join(required, ", "))}
	}
	return 0, "", nil
}

// statusUnsupportedURIScheme is 416, which sipgo does not name.
const statusUnsupportedURIScheme = 416

// closeBroken closes the TCP connection of a request whose framing cannot
// be trusted: with two Content-Length values, sipgo cut the message at one
// of them and what follows on the stream may be the rest of it (RFC 4475
// section 3.3.9: the framing error is not recoverable).
func (s *Server) closeBroken(req *sipmsg.Request) {
	if s.tcpLn == nil || !sipmsg.IsReliable(req.Transport()) || len(req.GetHeaders("Content-Length")) < 2 {
		return
	}
	s.tcpLn.closeConn(req.Source())
}

// respond sends a response without a body, with the driver's Server and,
// for 405, Allow headers.
func (s *Server) respond(req *sipmsg.Request, tx sipmsg.ServerTransaction, code int, reason string, hdrs ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	res.SipVersion = "SIP/2.0" // not the request's: a 505 says which version ivrd speaks
	res.AppendHeader(sipmsg.NewHeader("Server", s.cfg.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "status", code, "err", err)
	}
}

func (s *Server) onOptions(req *sipmsg.Request, tx *trackedTx) {
	s.respond(req, tx, sipmsg.StatusOK, "OK",
		sipmsg.NewHeader("Allow", allowed),
		sipmsg.NewHeader("Accept", "application/sdp"),
	)
}

// knownMethods are the methods of RFC 3261 and its common extensions that
// ivrd does not serve: 405. Any other method is one it does not know: 501
// (RFC 3261 section 8.2.1). Both carry Allow.
var knownMethods = []sipmsg.RequestMethod{sipmsg.REGISTER, sipmsg.PRACK, sipmsg.SUBSCRIBE, sipmsg.NOTIFY,
	sipmsg.PUBLISH, sipmsg.REFER, sipmsg.MESSAGE, sipmsg.UPDATE}

func (s *Server) onNoRoute(req *sipmsg.Request, tx *trackedTx) {
	if slices.Contains(knownMethods, req.Method) {
		s.respond(req, tx, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", sipmsg.NewHeader("Allow", allowed))
		return
	}
	s.respond(req, tx, sipmsg.StatusNotImplemented, "Not Implemented", sipmsg.NewHeader("Allow", allowed))
}

func (s *Server) onAck(req *sipmsg.Request, _ *trackedTx) {
	if c := s.dialogCall(req); c != nil {
		c.onAck(req)
	} else if l := s.dialogLeg(req); l != nil {
		l.onAck(req)
	}
}

func (s *Server) onBye(req *sipmsg.Request, tx *trackedTx) {
	if c := s.dialogCall(req); c != nil {
		c.onBye(req, tx)
	} else if l := s.dialogLeg(req); l != nil {
		l.onBye(req, tx)
	} else {
		s.respond(req, tx, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
}

// onCancel sees only a CANCEL that matched no INVITE transaction: the
// transaction layer answers the others itself (200, then 487 for the
// INVITE) and the call learns of it through the transaction's OnCancel.
func (s *Server) onCancel(req *sipmsg.Request, tx *trackedTx) {
	s.respond(req, tx, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

func (s *Server) onInfo(req *sipmsg.Request, tx *trackedTx) {
	c := s.dialogCall(req)
	if c == nil {
		if l := s.dialogLeg(req); l != nil {
			// An agent's keys or keepalive: nothing listens to them.
			s.respond(req, tx, sipmsg.StatusOK, "OK")
			return
		}
		s.respond(req, tx, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	digit, ok, err := parseInfoDTMF(ct, req.Body())
	if errors.Is(err, ErrUnsupportedInfo) {
		s.respond(req, tx, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type",
			sipmsg.NewHeader("Accept", ctDTMFRelay+", "+ctDTMF))
		return
	}
	if err != nil {
		c.log.Debug("bad INFO DTMF body", "err", err)
		s.respond(req, tx, sipmsg.StatusBadRequest, "Bad DTMF Body")
		return
	}
	s.respond(req, tx, sipmsg.StatusOK, "OK")
	if ok {
		c.injectDTMF(digit)
	}
}

// retryAfter is the Retry-After header value of a draining server.
func (s *Server) retryAfter() sipmsg.Header {
	return sipmsg.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
}

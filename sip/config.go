package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// Defaults applied by NewServer to zero Config fields.
const (
	DefaultTCPIdleTimeout = 2 * time.Minute
	DefaultUserAgent      = "ivrd"
	// DefaultRetryAfter is the Retry-After of the 503 a draining server
	// answers new INVITEs with.
	DefaultRetryAfter = 30 * time.Second
	// DefaultRingTimeout bounds the ringing of an agent's phone when the
	// dial request sets no timeout of its own.
	DefaultRingTimeout = 30 * time.Second
	// DefaultMaxCalls is the most calls in progress before new INVITEs get
	// 503: the load measured on the reference machine (2 CPUs), where 500
	// callers bridged to 500 agents' phones were all held with none failed
	// and ivrd used under one of the two CPUs (data/bench/latest-bridge.txt).
	// No higher figure has been measured; a bigger machine may raise it.
	DefaultMaxCalls = 500
	// DefaultFloodBurst, DefaultFloodRate and DefaultFloodBan are the
	// defaults of FloodLimit: 20 new INVITEs at once from one source
	// address, then 10 a second, and a source over that refused for
	// 5 minutes (Kamailio's anti-flood example bans for 300 s too, after 16
	// requests in 2 s). 10 a second from one address fills DefaultMaxCalls
	// in under a minute, far quicker than callers arrive at a contact
	// centre of that size; a trunk or SBC that carries every call belongs
	// in FloodLimit.Exempt.
	DefaultFloodBurst = 20
	DefaultFloodRate  = 10.0
	DefaultFloodBan   = 5 * time.Minute
)

// Credentials are a digest username and password.
type Credentials struct {
	Username string
	Password string
}

// Config configures a Server.
type Config struct {
	// UDPAddr and TCPAddr are the listen addresses ("127.0.0.1:5060");
	// empty disables that transport. Port 0 picks a free port (see Addr).
	UDPAddr, TCPAddr string
	// MediaIP is the address put in the SDP c= line. Default: the media
	// session's bound address, else the host of UDPAddr or TCPAddr.
	MediaIP netip.Addr
	// Media provides the RTP sessions. Required.
	Media *media.Endpoint
	// Prompts caches the WAV files calls play. Default: a new cache.
	Prompts *media.PromptCache
	// TCPIdleTimeout closes a TCP connection that received nothing for this
	// long and carries no call. Default DefaultTCPIdleTimeout.
	TCPIdleTimeout time.Duration
	// RetryAfter is sent with the 503 of a draining server.
	RetryAfter time.Duration
	// UserAgent names the server in User-Agent and Server headers.
	UserAgent string
	// AgentAuth answers an agent phone (or the registrar or proxy in front
	// of it) that challenges ivrd's INVITE with 401 or 407: one
	// authenticated retry per INVITE. Empty: a challenge fails the ringing.
	AgentAuth Credentials
	// AgentTLS is the TLS client configuration for agent phones dialled
	// over TLS (sips: URIs, transport=tls): root CAs, client certificate.
	// Default: the system's roots.
	AgentTLS *tls.Config
	// RingTimeout bounds the ringing of an agent's phone when the dial
	// request gives no timeout. Default DefaultRingTimeout.
	RingTimeout time.Duration
	// Trunk is where customers are called back through (Originate).
	// Without its Address, Originate fails with ivr.ErrNoCallbacks.
	Trunk Trunk
	// MaxCalls is the most calls in progress (ActiveCalls): a new INVITE
	// beyond it gets 503 with Retry-After (RetryAfter). 0 means
	// DefaultMaxCalls; negative, no limit.
	MaxCalls int
	// Flood limits the new INVITEs each source address may send.
	Flood FloodLimit
	// Logger receives the driver's logs; each call logs with a call_id.
	Logger *slog.Logger
	// Handler runs a call, in its own goroutine per call. The context ends
	// with ivr.ErrCallerHangup, ivr.ErrMediaTimeout, ivr.ErrShutdown or
	// ErrHungUp as cause. When Handler returns the call is hung up if it is
	// still up (BYE, or 480 if it was never answered). Required.
	Handler func(ctx context.Context, call ivr.Call)
}

func (c *Config) setDefaults() error {
	if c.Media == nil {
		return fmt.Errorf("check config: Media is required")
	}
	if c.Handler == nil {
		return fmt.Errorf("check config: Handler is required")
	}
	if c.UDPAddr == "" && c.TCPAddr == "" {
		return fmt.Errorf("check config: no UDPAddr nor TCPAddr")
	}
	if c.Prompts == nil {
		c.Prompts = media.NewPromptCache()
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = DefaultRingTimeout
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if err := c.Flood.check(); err != nil {
		return fmt.Errorf("check config: %w", err)
	}
	if err := c.Trunk.check(); err != nil {
		return fmt.Errorf("check config: %w", err)
	}
	switch {
	case c.Trunk.Address == "":
	case c.Trunk.Transport == "UDP" && c.UDPAddr == "":
		return fmt.Errorf("check config: %w", &TrunkError{Field: "Transport",
			Reason: "udp, but there is no UDPAddr: the trunk's requests must come back to a listener"})
	case c.Trunk.Transport == "TCP" && c.TCPAddr == "":
		return fmt.Errorf("check config: %w", &TrunkError{Field: "Transport",
			Reason: "tcp, but there is no TCPAddr: the trunk's requests must come back to a listener"})
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// FloodLimit is the token bucket each source address draws from for its
// new INVITEs (re-INVITEs and other requests are not counted, nor are
// retransmissions): Burst at once, then Rate a second. A source that finds
// it empty is banned for Ban: that INVITE gets 503 with Retry-After, and
// until the ban ends its INVITEs are refused (over UDP, dropped before
// they are even parsed; over TCP, 503). Each ban is logged once, as it
// starts (level warn).
type FloodLimit struct {
	// Rate is how many new INVITEs a second a source may send once its
	// burst is spent. 0 means DefaultFloodRate; negative turns the limit
	// off.
	Rate float64
	// Burst is how many new INVITEs a source may send at once. 0 means
	// DefaultFloodBurst.
	Burst int
	// Ban is how long a source over the limit is refused. 0 means
	// DefaultFloodBan.
	Ban time.Duration
	// Exempt are the sources never limited: the trunk, SBC or PBX every
	// call comes through, a load generator.
	Exempt []netip.Prefix
}

// LimitError is a Config field with a bad value: MaxCalls or a FloodLimit
// field ("Flood.Rate").
type LimitError struct {
	Field  string
	Reason string
}

func (e *LimitError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks l as NewServer does: it returns a *LimitError naming
// the field at fault, or nil.
func (l FloodLimit) Validate() error { return l.check() }

// check validates the limit and applies its defaults.
func (l *FloodLimit) check() error {
	bad := func(field, format string, args ...any) error {
		return &LimitError{Field: "Flood." + field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0):
		return bad("Rate", "%v is not a number of INVITEs a second", l.Rate)
	case l.Rate < 0:
		return nil // off: the other fields do not matter
	case l.Rate == 0:
		l.Rate = DefaultFloodRate
	}
	switch {
	case l.Burst < 0:
		return bad("Burst", "must not be negative (0 means %d)", DefaultFloodBurst)
	case l.Burst == 0:
		l.Burst = DefaultFloodBurst
	}
	switch {
	case l.Ban < 0:
		return bad("Ban", "must not be negative (0 means %v)", DefaultFloodBan)
	case l.Ban == 0:
		l.Ban = DefaultFloodBan
	}
	exempt := make([]netip.Prefix, len(l.Exempt))
	for i, p := range l.Exempt {
		if !p.IsValid() {
			return bad("Exempt", "entry %d is not an address prefix", i)
		}
		exempt[i] = p.Masked()
	}
	l.Exempt = exempt
	return nil
}

// Trunk is the SIP trunk customers are called back through: an
// operator's, or the PBX or SBC that reaches the public network. ivrd
// sends it INVITE sip:<number>@<Domain> from its own listener, as it
// does to agents' phones, so the trunk's in-dialog requests come back to
// the server.
type Trunk struct {
	// Address is where the INVITEs go: host:port, the host a name or an
	// IP address. Empty: no trunk, Originate fails.
	Address string
	// Transport is "udp" (default), "tcp" or "tls", in any case. UDP and
	// TCP need the server to listen on that transport (UDPAddr, TCPAddr);
	// TLS trusts the roots of AgentTLS, the server's TLS client
	// configuration.
	Transport string
	// Credentials answer the trunk's 401 or 407 challenge, once per
	// INVITE. Empty: a challenge fails the call.
	Credentials Credentials
	// CallerID is the number customers see: the user part of From, digits
	// with an optional leading +. Empty: anonymous.
	CallerID string
	// Domain is the host of the Request-URI, To and From when the trunk
	// wants another than Address's (an operator's domain, Address being
	// its proxy). Empty: Address (with its port) in the Request-URI and To,
	// ivrd's own address in From.
	Domain string
	// RingTimeout bounds the ringing of every call; a request's shorter
	// timeout wins. Default DefaultRingTimeout.
	RingTimeout time.Duration
}

// TrunkError is a Trunk field with a bad value; Field is the field's name
// ("Address", "Credentials.Password"), so that a configuration file can
// name its own key.
type TrunkError struct {
	Field  string
	Reason string
}

func (e *TrunkError) Error() string { return "trunk " + e.Field + ": " + e.Reason }

// Validate checks t as NewServer does, without the listeners: it returns
// a *TrunkError naming the field at fault, or nil.
func (t Trunk) Validate() error { return t.check() }

// check validates the trunk and normalizes it: Transport upper case and
// defaulted, RingTimeout defaulted.
func (t *Trunk) check() error {
	bad := func(field, format string, args ...any) error {
		return &TrunkError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if t.Address == "" {
		for _, f := range []struct{ name, v string }{{"CallerID", t.CallerID}, {"Domain", t.Domain},
			{"Credentials.Username", t.Credentials.Username}, {"Credentials.Password", t.Credentials.Password}} {
			if f.v != "" {
				return bad("Address", "empty, but %s is set: give the trunk's host:port", f.name)
			}
		}
	} else {
		host, port, err := net.SplitHostPort(t.Address)
		if err != nil {
			return bad("Address", "%q is not host:port: %v", t.Address, err)
		}
		if !validHost(host) {
			return bad("Address", "%q: %q is not a host name or IP address", t.Address, host)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return bad("Address", "%q: port must be 1-65535", t.Address)
		}
	}
	switch tp := strings.ToUpper(t.Transport); tp {
	case "":
		t.Transport = "UDP"
	case "UDP", "TCP", "TLS":
		t.Transport = tp
	default:
		return bad("Transport", "%q is not one of udp, tcp, tls", t.Transport)
	}
	switch {
	case t.Credentials.Username != "" && t.Credentials.Password == "":
		return bad("Credentials.Password", "empty, but the username is set: give both, or neither")
	case t.Credentials.Username == "" && t.Credentials.Password != "":
		return bad("Credentials.Username", "empty, but the password is set: give both, or neither")
	}
	if t.CallerID != "" && !validNumber(t.CallerID) {
		return bad("CallerID", "%q is not digits with an optional leading +", t.CallerID)
	}
	if t.Domain != "" && !validHost(t.Domain) {
		return bad("Domain", "%q is not a host name or IP address (no port, no user)", t.Domain)
	}
	switch {
	case t.RingTimeout < 0:
		return bad("RingTimeout", "must not be negative (0 means %v)", DefaultRingTimeout)
	case t.RingTimeout == 0:
		t.RingTimeout = DefaultRingTimeout
	}
	return nil
}

// validNumber reports whether s is a phone number as callbacks take them:
// digits with an optional leading +, at most 32.
func validNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validHost reports whether s is an IP address or a DNS name, as the host
// of a SIP URI.
func validHost(s string) bool {
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

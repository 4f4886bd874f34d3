package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
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
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

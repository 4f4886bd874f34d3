package asterisk

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// Config configures a Driver.
type Config struct {
	// URL is the root of ARI, e.g. http://127.0.0.1:8088/ari.
	URL string
	// WSURL is the events websocket; empty derives it from URL
	// (ws://127.0.0.1:8088/ari/events).
	WSURL string
	// User and Password are an ARI user of ari.conf.
	User     string
	Password string
	// App is the Stasis application name the dialplan sends calls to.
	App string
	// PromptBaseURL is where Asterisk fetches ivrd's prompts
	// (http://127.0.0.1:8080/prompts): {PromptBaseURL}/{Audio.ID}.wav.
	PromptBaseURL string
	// Handoff says, per queue name, whether a queued call waits in ivrd's
	// shared queue (the default for queues not listed) or goes back to the
	// dialplan.
	Handoff map[string]HandoffConfig
	// MOHClass is the music-on-hold class of Asterisk's musiconhold.conf
	// that callers waiting in ivrd's shared queue hear, in a holding bridge
	// (default "default").
	MOHClass string
	// AnnounceEvery is how long the music plays between two plays of the
	// queue node's hold prompt to a caller on hold; 0 plays the prompt
	// only when the caller starts waiting. Without a hold prompt, the
	// caller hears music only.
	AnnounceEvery time.Duration
	// AgentEndpoint is the PJSIP endpoint of Asterisk's pjsip.conf through
	// which the driver rings agents' phones given as sip: URIs:
	// PJSIP/<AgentEndpoint>/<phone> (default "agents"). An agent's own dial
	// string (ivr.Offer.Dial) is used as is instead.
	AgentEndpoint string
	// Media is ivrd's RTP endpoint, through which agents taking calls in
	// the browser (a media.Port leg, such as a WebRTC leg) reach the
	// caller: the driver bridges the caller to an ExternalMedia channel
	// whose RTP goes to a session of Media, relayed to the agent's leg.
	// Nil: such legs cannot be bridged.
	Media *media.Endpoint
	// MediaAddr is the address at which Asterisk reaches Media's RTP
	// sessions; the zero value uses the address Media's sessions are
	// bound to, which must then not be a wildcard (0.0.0.0).
	MediaAddr netip.Addr
	// CallbackEndpoint is where customers are called back (Originate): an
	// Asterisk dial string of one channel in which {number} stands for the
	// customer's number, such as PJSIP/{number}@trunk or
	// PJSIP/trunk/sip:{number}@10.0.0.1. The number is only ever digits
	// with an optional leading +, so that what a caller typed can never
	// pick another destination (toll fraud). Empty: the driver calls no
	// one back (Originate fails with ivr.ErrNoCallbacks).
	CallbackEndpoint string
	// CallbackCallerID is what the customer's phone shows: a number
	// (+33123456789) or a name and number ("Acme" <+33123456789>). Empty
	// leaves it to the endpoint's callerid in pjsip.conf.
	CallbackCallerID string
	// CallbackRingTimeout bounds how long a customer's phone rings; a
	// request with a shorter timeout of its own rings for that (default
	// 30s).
	CallbackRingTimeout time.Duration
	// Handler serves one call; the driver hangs up when it returns, unless
	// the call was handed to the dialplan. Required.
	Handler func(ctx context.Context, call ivr.Call)
	// Backoff paces reconnections to ARI.
	Backoff Backoff
	// RequestTimeout bounds one ARI request (default 5s).
	RequestTimeout time.Duration
	// HTTPClient sends ARI requests; nil uses a client of its own.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// HandoffMode says who holds a queued call.
type HandoffMode string

// Handoff modes.
const (
	// HandoffIvrd: the call waits in ivrd's shared queue, as with the
	// native SIP driver, in a holding bridge with music on hold and the
	// queue node's hold prompt as announcement.
	HandoffIvrd HandoffMode = "ivrd"
	// HandoffDialplan: the call leaves ivrd for a dialplan context that
	// runs Asterisk's Queue(), with the IVR's context in IVRD_* variables.
	HandoffDialplan HandoffMode = "dialplan"
)

// HandoffConfig is how one queue's calls are handed off.
type HandoffConfig struct {
	Mode HandoffMode // default HandoffIvrd
	// Context, Extension and Priority are where a HandoffDialplan call
	// continues. Extension defaults to the queue name, Priority to 1.
	Context   string
	Extension string
	Priority  int
}

// Backoff is an exponential backoff: Min, doubling up to Max.
type Backoff struct {
	Min time.Duration // default 500ms
	Max time.Duration // default 30s
}

// DefaultMOHClass is the music-on-hold class Asterisk ships configured.
const DefaultMOHClass = "default"

// DefaultAgentEndpoint is the PJSIP endpoint agents' phones are rung
// through when Config.AgentEndpoint is empty.
const DefaultAgentEndpoint = "agents"

// DefaultCallbackRingTimeout bounds the ringing of a customer called back
// when Config.CallbackRingTimeout is zero.
const DefaultCallbackRingTimeout = 30 * time.Second

const (
	defaultBackoffMin     = 500 * time.Millisecond
	defaultBackoffMax     = 30 * time.Second
	defaultRequestTimeout = 5 * time.Second
)

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Handler == nil {
		return cfg, fmt.Errorf("configure ari: no handler")
	}
	if cfg.App == "" {
		return cfg, fmt.Errorf("configure ari: empty application name")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("configure ari: url %q is not an http(s) URL", cfg.URL)
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.WSURL == "" {
		cfg.WSURL = WebsocketURL(cfg.URL)
	}
	if w, err := url.Parse(cfg.WSURL); err != nil || (w.Scheme != "ws" && w.Scheme != "wss") || w.Host == "" {
		return cfg, fmt.Errorf("configure ari: websocket url %q is not a ws(s) URL", cfg.WSURL)
	}
	if cfg.PromptBaseURL != "" {
		p, err := url.Parse(cfg.PromptBaseURL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return cfg, fmt.Errorf("configure ari: prompt base url %q is not an http(s) URL", cfg.PromptBaseURL)
		}
		if strings.Contains(cfg.PromptBaseURL, ",") {
			// ARI separates the media of one playback with commas.
			return cfg, fmt.Errorf("configure ari: prompt base url %q must not contain a comma", cfg.PromptBaseURL)
		}
		cfg.PromptBaseURL = strings.TrimRight(cfg.PromptBaseURL, "/")
	}
	for q, h := range cfg.Handoff {
		switch h.Mode {
		case "", HandoffIvrd:
			h.Mode = HandoffIvrd
		case HandoffDialplan:
			if h.Context == "" {
				return cfg, fmt.Errorf("configure ari: handoff of queue %q: dialplan mode needs a context", q)
			}
			if h.Extension == "" {
				h.Extension = q
			}
			if h.Priority == 0 {
				h.Priority = 1
			}
			if h.Priority < 0 {
				return cfg, fmt.Errorf("configure ari: handoff of queue %q: priority %d must be positive", q, h.Priority)
			}
		default:
			return cfg, fmt.Errorf("configure ari: handoff of queue %q: mode %q is not ivrd or dialplan", q, h.Mode)
		}
		cfg.Handoff[q] = h
	}
	if cfg.MOHClass == "" {
		cfg.MOHClass = DefaultMOHClass
	}
	if strings.ContainsAny(cfg.MOHClass, ",[] \t\r\n") {
		return cfg, fmt.Errorf("configure ari: %q is not a music-on-hold class name", cfg.MOHClass)
	}
	if cfg.AgentEndpoint == "" {
		cfg.AgentEndpoint = DefaultAgentEndpoint
	}
	if strings.ContainsAny(cfg.AgentEndpoint, "/,&[] \t\r\n") {
		// Asterisk's dial strings separate parts with / and channels with &.
		return cfg, fmt.Errorf("configure ari: %q is not a PJSIP endpoint name", cfg.AgentEndpoint)
	}
	if cfg.MediaAddr.IsValid() && cfg.MediaAddr.IsUnspecified() {
		return cfg, fmt.Errorf("configure ari: media address %v is not one Asterisk can send RTP to", cfg.MediaAddr)
	}
	if cfg.CallbackEndpoint != "" {
		if err := CheckCallbackEndpoint(cfg.CallbackEndpoint); err != nil {
			return cfg, fmt.Errorf("configure ari: %w", err)
		}
	}
	if cfg.CallbackCallerID != "" {
		id, err := ParseCallerID(cfg.CallbackCallerID)
		if err != nil {
			return cfg, fmt.Errorf("configure ari: %w", err)
		}
		cfg.CallbackCallerID = id
	}
	switch {
	case cfg.CallbackRingTimeout < 0:
		return cfg, fmt.Errorf("configure ari: callback ring timeout %v is negative", cfg.CallbackRingTimeout)
	case cfg.CallbackRingTimeout == 0:
		cfg.CallbackRingTimeout = DefaultCallbackRingTimeout
	}
	if cfg.AnnounceEvery < 0 {
		return cfg, fmt.Errorf("configure ari: announcement interval %v is negative", cfg.AnnounceEvery)
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = defaultBackoffMin
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = defaultBackoffMax
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = cfg.Backoff.Min
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// WebsocketURL derives the events websocket URL from the ARI URL:
// http://h:8088/ari -> ws://h:8088/ari/events (https gives wss).
func WebsocketURL(ariURL string) string {
	u, err := url.Parse(strings.TrimRight(ariURL, "/"))
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path += "/events"
	u.RawQuery = ""
	return u.String()
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/sip"
	"github.com/ivrd/ivrd/web"
)

// Config is ivrd's whole configuration, decoded from configs/ivrd.yaml,
// IVRD_* environment variables and flags (flags win, then environment, then
// file, then defaults).
type Config struct {
	DataDir    string           `mapstructure:"data_dir"`
	Log        LogConfig        `mapstructure:"log"`
	Flows      FlowsConfig      `mapstructure:"flows"`
	TTS        TTSConfig        `mapstructure:"tts"`
	SIP        SIPConfig        `mapstructure:"sip"`
	ARI        ARIConfig        `mapstructure:"ari"`
	HTTP       HTTPConfig       `mapstructure:"http"`
	Database   DatabaseConfig   `mapstructure:"database"`
	Recordings RecordingsConfig `mapstructure:"recordings"`
	Calls      CallsConfig      `mapstructure:"calls"`
	WebRTC     WebRTCConfig     `mapstructure:"webrtc"`
	// Routing is decoded and checked by the routing package.
	Routing  routing.Config `mapstructure:"routing"`
	Shutdown ShutdownConfig `mapstructure:"shutdown"`
}

// LogConfig sets up slog.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// FlowsConfig says where the flows are.
type FlowsConfig struct {
	Dir   string `mapstructure:"dir"`
	Watch bool   `mapstructure:"watch"`
}

// TTSConfig selects the text-to-speech engine.
type TTSConfig struct {
	Engine   string            `mapstructure:"engine"`
	Binary   string            `mapstructure:"binary"`
	CacheDir string            `mapstructure:"cache_dir"`
	Voices   map[string]string `mapstructure:"voices"`
}

// SIPConfig configures the native SIP driver.
type SIPConfig struct {
	Enabled        bool          `mapstructure:"enabled"`
	UDP            string        `mapstructure:"udp"`
	TCP            string        `mapstructure:"tcp"`
	MediaIP        string        `mapstructure:"media_ip"`
	RTPPorts       string        `mapstructure:"rtp_ports"`
	MediaTimeout   time.Duration `mapstructure:"media_timeout"`
	TCPIdleTimeout time.Duration `mapstructure:"tcp_idle_timeout"`
	UserAgent      string        `mapstructure:"user_agent"`
	// AgentAuth answers the digest challenges of agents' phones (or of the
	// proxy in front of them) when ivrd rings them.
	AgentAuth SIPAuthConfig `mapstructure:"agent_auth"`
	// AgentTLSCA is a PEM file of the roots that sign the certificates of
	// sips: agent phones; empty trusts the system's roots.
	AgentTLSCA string `mapstructure:"agent_tls_ca"`
	// Trunk is where the SIP driver calls customers back (callback nodes);
	// without an address it calls no one.
	Trunk SIPTrunkConfig `mapstructure:"trunk"`
	// MaxCalls is the most calls in progress before new INVITEs get 503;
	// 0 means no limit.
	MaxCalls int `mapstructure:"max_calls"`
	// Flood limits the new INVITEs each source address may send.
	Flood SIPFloodConfig `mapstructure:"flood"`

	rtpMin, rtpMax int
	mediaIP        netip.Addr
	agentTLS       *tls.Config
}

// SIPTrunkConfig is the SIP trunk customers are called back through; see
// sip.Trunk for what each key does.
type SIPTrunkConfig struct {
	Address     string        `mapstructure:"address"`
	Transport   string        `mapstructure:"transport"`
	Username    string        `mapstructure:"username"`
	Password    string        `mapstructure:"password"`
	CallerID    string        `mapstructure:"caller_id"`
	Domain      string        `mapstructure:"domain"`
	RingTimeout time.Duration `mapstructure:"ring_timeout"`
}

// trunk is the driver's Config.Trunk.
func (t SIPTrunkConfig) trunk() sip.Trunk {
	return sip.Trunk{
		Address:     t.Address,
		Transport:   t.Transport,
		Credentials: sip.Credentials{Username: t.Username, Password: t.Password},
		CallerID:    t.CallerID,
		Domain:      t.Domain,
		RingTimeout: t.RingTimeout,
	}
}

// SIPAuthConfig are digest credentials.
type SIPAuthConfig struct {
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
}

// WebRTCConfig configures the browser agents' audio (WebRTC).
type WebRTCConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// IPs are the addresses offered as ICE host candidates; empty means
	// the media address (sip.media_ip).
	IPs []string `mapstructure:"ips"`
	// NAT1To1IPs are public addresses announced instead, behind 1:1 NAT.
	NAT1To1IPs []string `mapstructure:"nat_1to1_ips"`
	// Ports is the UDP port range ICE binds ("30000-31000"); empty, any.
	Ports string `mapstructure:"ports"`

	ips              []netip.Addr
	portMin, portMax int
}

// ARIConfig configures the Asterisk driver (a Stasis application over ARI).
type ARIConfig struct {
	Enabled  bool   `mapstructure:"enabled"`
	URL      string `mapstructure:"url"`
	WSURL    string `mapstructure:"ws_url"`
	User     string `mapstructure:"user"`
	Password string `mapstructure:"password"`
	App      string `mapstructure:"app"`
	// PromptBaseURL is where Asterisk fetches ivrd's prompts; empty means
	// http://<http.addr>/prompts.
	PromptBaseURL string                      `mapstructure:"prompt_base_url"`
	ReconnectMin  time.Duration               `mapstructure:"reconnect_min"`
	ReconnectMax  time.Duration               `mapstructure:"reconnect_max"`
	Handoff       map[string]ARIHandoffConfig `mapstructure:"handoff"`
	// MOHClass is the music-on-hold class of musiconhold.conf that callers
	// waiting in ivrd's queue hear in their holding bridge.
	MOHClass string `mapstructure:"moh_class"`
	// HoldAnnounce is how long the music plays between two plays of the
	// queue node's hold prompt; 0 plays it once, when the caller starts
	// waiting.
	HoldAnnounce time.Duration `mapstructure:"hold_announce"`
	// AgentEndpoint is the PJSIP endpoint agents' phones are rung through:
	// PJSIP/<agent_endpoint>/<phone URI>.
	AgentEndpoint string `mapstructure:"agent_endpoint"`
	// MediaAddr is where Asterisk sends the RTP of browser agents' legs;
	// empty means the media address (sip.media_ip).
	MediaAddr string `mapstructure:"media_addr"`
	// CallbackEndpoint is the dial string customers are called back
	// through, {number} standing for the customer's number
	// (PJSIP/{number}@trunk); empty: Asterisk calls no one back.
	CallbackEndpoint string `mapstructure:"callback_endpoint"`
	// CallbackCallerID is what customers called back see: +33123456789 or
	// "Acme" <+33123456789>; empty leaves it to the endpoint.
	CallbackCallerID string `mapstructure:"callback_caller_id"`
	// CallbackRingTimeout bounds the ringing of a customer's phone.
	CallbackRingTimeout time.Duration `mapstructure:"callback_ring_timeout"`

	mediaAddr        netip.Addr
	callbackCallerID string // in the form ARI takes
}

// ARIHandoffConfig says how the calls of one queue are handed off under
// Asterisk: held in ivrd's queue, or continued in the dialplan.
type ARIHandoffConfig struct {
	Mode      string `mapstructure:"mode"`
	Context   string `mapstructure:"context"`
	Extension string `mapstructure:"extension"`
	Priority  int    `mapstructure:"priority"`
}

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	Addr string `mapstructure:"addr"`
	// Pprof serves the Go runtime profiles on /debug/pprof/ for
	// diagnosing memory and CPU use; never on a public address.
	Pprof bool `mapstructure:"pprof"`
	// Users may reach the restricted endpoints (recordings, audit).
	Users []UserConfig `mapstructure:"users"`
}

// UserConfig is one user of the HTTP API. The token itself is not in the
// configuration, only its SHA-256 (ivrd token prints both).
type UserConfig struct {
	Name        string `mapstructure:"name"`
	Role        string `mapstructure:"role"`
	TokenSHA256 string `mapstructure:"token_sha256"`
}

// RecordingsConfig configures where recordings go and how long they stay.
type RecordingsConfig struct {
	Dir string `mapstructure:"dir"`
	// Retention is "180d" (days) or a Go duration; at most six months.
	Retention     string        `mapstructure:"retention"`
	PurgeInterval time.Duration `mapstructure:"purge_interval"`
	// EncryptionKey is 64 hex digits or the base64 of 32 bytes; empty
	// stores recordings in the clear. EncryptionKeyFile holds the same.
	EncryptionKey     string `mapstructure:"encryption_key"`
	EncryptionKeyFile string `mapstructure:"encryption_key_file"`

	retention time.Duration
	key       []byte
}

// DatabaseConfig locates the SQLite file.
type DatabaseConfig struct {
	Path string `mapstructure:"path"`
}

// ShutdownConfig bounds a graceful stop.
type ShutdownConfig struct {
	Drain time.Duration `mapstructure:"drain"`
}

// defaults are the values of configs/ivrd.yaml; a missing file means these.
var defaults = map[string]any{
	"data_dir":                       "./data",
	"log.level":                      "info",
	"log.format":                     "text",
	"flows.dir":                      "./flows",
	"flows.watch":                    true,
	"tts.engine":                     "espeak-ng",
	"tts.binary":                     "espeak-ng",
	"tts.cache_dir":                  "",
	"tts.voices":                     map[string]string{"fr": "fr-fr", "en": "en-us"},
	"sip.enabled":                    true,
	"sip.udp":                        "127.0.0.1:5060",
	"sip.tcp":                        "127.0.0.1:5060",
	"sip.media_ip":                   "",
	"sip.rtp_ports":                  "10000-20000",
	"sip.media_timeout":              "30s",
	"sip.tcp_idle_timeout":           "2m",
	"sip.user_agent":                 "ivrd",
	"sip.agent_auth.username":        "",
	"sip.agent_auth.password":        "",
	"sip.agent_tls_ca":               "",
	"sip.trunk.address":              "",
	"sip.trunk.transport":            "udp",
	"sip.trunk.username":             "",
	"sip.trunk.password":             "",
	"sip.trunk.caller_id":            "",
	"sip.trunk.domain":               "",
	"sip.trunk.ring_timeout":         "30s",
	"sip.max_calls":                  sip.DefaultMaxCalls,
	"sip.flood.rate":                 sip.DefaultFloodRate,
	"sip.flood.burst":                sip.DefaultFloodBurst,
	"sip.flood.ban":                  "5m",
	"sip.flood.exempt":               []string{"127.0.0.0/8", "::1"},
	"webrtc.enabled":                 true,
	"webrtc.ips":                     []string{},
	"webrtc.nat_1to1_ips":            []string{},
	"webrtc.ports":                   "",
	"ari.enabled":                    false,
	"ari.url":                        "http://127.0.0.1:8088/ari",
	"ari.ws_url":                     "",
	"ari.user":                       "ivrd",
	"ari.password":                   "",
	"ari.app":                        "ivrd",
	"ari.prompt_base_url":            "",
	"ari.reconnect_min":              "500ms",
	"ari.reconnect_max":              "30s",
	"ari.moh_class":                  asterisk.DefaultMOHClass,
	"ari.hold_announce":              "60s",
	"ari.agent_endpoint":             asterisk.DefaultAgentEndpoint,
	"ari.media_addr":                 "",
	"ari.callback_endpoint":          "",
	"ari.callback_caller_id":         "",
	"ari.callback_ring_timeout":      asterisk.DefaultCallbackRingTimeout.String(),
	"http.addr":                      "127.0.0.1:8080",
	"http.pprof":                     false,
	"http.users":                     []any{},
	"database.path":                  "",
	"recordings.dir":                 "",
	"recordings.retention":           "180d",
	"recordings.purge_interval":      "1h",
	"recordings.encryption_key":      "",
	"recordings.encryption_key_file": "",
	"calls.retention":                "180d",
	"calls.purge_interval":           "1h",
	"shutdown.drain":                 "30s",
}

// flagKeys maps command-line flags to config keys.
var flagKeys = map[string]string{
	"data-dir":  "data_dir",
	"log-level": "log.level",
	"flows":     "flows.dir",
	"sip-udp":   "sip.udp",
	"sip-tcp":   "sip.tcp",
	"http":      "http.addr",
}

func addConfigFlags(fs *pflag.FlagSet) {
	fs.StringP("config", "c", "", "config file (default: ./configs/ivrd.yaml if present)")
	fs.String("data-dir", "", "data folder (data_dir)")
	fs.String("log-level", "", "log level: debug, info, warn, error (log.level)")
	fs.String("flows", "", "flows folder (flows.dir)")
	fs.String("sip-udp", "", "SIP UDP listen address, empty string disables (sip.udp)")
	fs.String("sip-tcp", "", "SIP TCP listen address (sip.tcp)")
	fs.String("http", "", "HTTP API listen address (http.addr)")
}

// loadConfig reads the config file, environment and flags, and validates
// the result. Errors name the key and the reason.
func loadConfig(fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	for k, val := range routing.Defaults() {
		v.SetDefault("routing."+k, val)
	}
	v.SetEnvPrefix("IVRD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for flag, key := range flagKeys {
		if f := fs.Lookup(flag); f != nil && f.Changed {
			if err := v.BindPFlag(key, f); err != nil {
				return nil, fmt.Errorf("bind flag --%s: %w", flag, err)
			}
		}
	}

	path, _ := fs.GetString("config")
	if path == "" {
		path = os.Getenv("IVRD_CONFIG")
	}
	explicit := path != ""
	if !explicit {
		path = filepath.Join("configs", "ivrd.yaml")
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		var nf viper.ConfigFileNotFoundError
		if explicit || !(errors.As(err, &nf) || errors.Is(err, os.ErrNotExist)) {
			return nil, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	if err := setEnvLists(v); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := checkDurations(v.AllSettings()); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}

	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
	)))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// keyError names the config key at fault.
type keyError struct {
	key, reason string
}

func (e *keyError) Error() string { return fmt.Sprintf("key %s: %s", e.key, e.reason) }

func bad(key, format string, args ...any) error {
	return &keyError{key: key, reason: fmt.Sprintf(format, args...)}
}

func (c *Config) validate() error {
	if err := c.checkDurationLimits(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.Flows.Dir == "" {
		return bad("flows.dir", "must not be empty")
	}
	if c.TTS.Engine != "espeak-ng" {
		return bad("tts.engine", "%q is not supported (supported: espeak-ng)", c.TTS.Engine)
	}
	if c.TTS.CacheDir == "" {
		c.TTS.CacheDir = filepath.Join(c.DataDir, "tts")
	}
	if c.Database.Path == "" {
		c.Database.Path = filepath.Join(c.DataDir, "ivrd.db")
	}
	if err := checkAddr("http.addr", c.HTTP.Addr, false); err != nil {
		return err
	}
	if err := c.HTTP.validateUsers(); err != nil {
		return err
	}
	if c.Recordings.Dir == "" {
		c.Recordings.Dir = filepath.Join(c.DataDir, "recordings")
	}
	if err := c.Recordings.validate(); err != nil {
		return err
	}
	if err := c.Calls.validate(); err != nil {
		return err
	}
	if err := c.Routing.Validate(); err != nil {
		if ce, ok := errors.AsType[*routing.ConfigError](err); ok {
			return bad("routing."+ce.Key, "%s", ce.Reason)
		}
		return bad("routing", "%v", err)
	}
	if c.SIP.Enabled {
		if err := c.SIP.validate(); err != nil {
			return err
		}
	} else if c.ARI.Enabled && c.WebRTC.Enabled {
		// Browser agents under Asterisk go through ivrd's own RTP.
		if err := c.SIP.validateMedia(); err != nil {
			return err
		}
	}
	if c.ARI.Enabled {
		if err := c.ARI.validate(c.HTTP.Addr, c.SIP.mediaIP); err != nil {
			return err
		}
	}
	if c.WebRTC.Enabled {
		if err := c.WebRTC.validate(c.SIP.mediaIP); err != nil {
			return err
		}
	}
	return c.checkAgents()
}

// checkAgents refuses agents that the drivers as configured could never
// reach: they would be offered calls and set away at the first one.
func (c *Config) checkAgents() error {
	for i, a := range c.Routing.Agents {
		key := fmt.Sprintf("routing.agents[%d]", i)
		switch {
		case a.Phone == "" && a.Dial == "" && !c.WebRTC.Enabled:
			return bad(key+".phone", "agent %s has no phone and takes calls in the browser, but webrtc.enabled is false: give it a phone or enable webrtc", a.Name)
		case a.Phone == "" && a.Dial != "" && c.SIP.Enabled:
			return bad(key+".phone", "agent %s has only a dial string, which only Asterisk rings; calls answered by ivrd itself (sip.enabled) need a phone URI too, or set sip.enabled: false", a.Name)
		case a.Phone != "" && c.SIP.Enabled:
			u, err := url.Parse(a.Phone)
			if err != nil {
				continue // routing checked the URI
			}
			transport := "udp"
			for p := range strings.SplitSeq(u.Opaque, ";") {
				if v, ok := strings.CutPrefix(strings.ToLower(p), "transport="); ok {
					transport = v
				}
			}
			if transport == "tcp" && c.SIP.TCP == "" {
				return bad(key+".phone", "%s is reached over TCP, but sip.tcp is empty: set sip.tcp or use UDP", a.Phone)
			}
			if transport == "udp" && c.SIP.UDP == "" && u.Scheme == "sip" {
				return bad(key+".phone", "%s is reached over UDP, but sip.udp is empty: set sip.udp or add ;transport=tcp", a.Phone)
			}
		}
	}
	return nil
}

func (w *WebRTCConfig) validate(mediaIP netip.Addr) error {
	for i, s := range w.IPs {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.IsUnspecified() {
			return bad(fmt.Sprintf("webrtc.ips[%d]", i), "%q is not an address of this host", s)
		}
		w.ips = append(w.ips, ip)
	}
	if len(w.ips) == 0 && mediaIP.IsValid() {
		w.ips = []netip.Addr{mediaIP}
	}
	for i, s := range w.NAT1To1IPs {
		if _, err := netip.ParseAddr(s); err != nil {
			return bad(fmt.Sprintf("webrtc.nat_1to1_ips[%d]", i), "%q is not an IP address", s)
		}
	}
	if w.Ports != "" {
		lo, hi, err := portRange(w.Ports)
		if err != nil {
			return bad("webrtc.ports", "%v", err)
		}
		w.portMin, w.portMax = lo, hi
	}
	return nil
}

// portRange reads "min-max" within 1024-65535.
func portRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("%q is not a range like 10000-20000", s)
	case lo < 1024 || hi > 65535 || lo >= hi:
		return 0, 0, fmt.Errorf("%q must be within 1024-65535 with min < max", s)
	}
	return lo, hi, nil
}

func (a *ARIConfig) validate(httpAddr string, mediaIP netip.Addr) error {
	if a.AgentEndpoint == "" || strings.ContainsAny(a.AgentEndpoint, "/,&[] \t\r\n") {
		return bad("ari.agent_endpoint", "%q is not a PJSIP endpoint name of Asterisk's pjsip.conf", a.AgentEndpoint)
	}
	if a.MediaAddr != "" {
		ip, err := netip.ParseAddr(a.MediaAddr)
		if err != nil || ip.IsUnspecified() {
			return bad("ari.media_addr", "%q is not an address Asterisk can send RTP to", a.MediaAddr)
		}
		a.mediaAddr = ip
	} else {
		a.mediaAddr = mediaIP
	}
	if err := checkURL("ari.url", a.URL, "http", "https"); err != nil {
		return err
	}
	if a.WSURL == "" {
		a.WSURL = asterisk.WebsocketURL(a.URL)
	}
	if err := checkURL("ari.ws_url", a.WSURL, "ws", "wss"); err != nil {
		return err
	}
	if a.User == "" {
		return bad("ari.user", "must not be empty (an ARI user of Asterisk's ari.conf)")
	}
	if a.Password == "" {
		return bad("ari.password", "must not be empty: set it in the file or in IVRD_ARI_PASSWORD")
	}
	if a.App == "" || strings.ContainsAny(a.App, " ,()/?&#") {
		return bad("ari.app", "%q is not a Stasis application name", a.App)
	}
	if a.PromptBaseURL == "" {
		host, port, _ := net.SplitHostPort(httpAddr)
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		a.PromptBaseURL = "http://" + net.JoinHostPort(host, port) + "/prompts"
	}
	if err := checkURL("ari.prompt_base_url", a.PromptBaseURL, "http", "https"); err != nil {
		return err
	}
	if strings.Contains(a.PromptBaseURL, ",") {
		return bad("ari.prompt_base_url", "%q must not contain a comma", a.PromptBaseURL)
	}
	if a.ReconnectMax < a.ReconnectMin {
		return bad("ari.reconnect_max", "%s is less than ari.reconnect_min %s", a.ReconnectMax, a.ReconnectMin)
	}
	if a.MOHClass == "" || strings.ContainsAny(a.MOHClass, ",[] \t\r\n") {
		return bad("ari.moh_class", "%q is not a music-on-hold class of Asterisk's musiconhold.conf", a.MOHClass)
	}
	if a.CallbackEndpoint != "" {
		if err := asterisk.CheckCallbackEndpoint(a.CallbackEndpoint); err != nil {
			return bad("ari.callback_endpoint", "%v (e.g. PJSIP/{number}@trunk; the number is digits with an optional leading + only)", err)
		}
	}
	if a.CallbackCallerID != "" {
		id, err := asterisk.ParseCallerID(a.CallbackCallerID)
		if err != nil {
			return bad("ari.callback_caller_id", "%v", err)
		}
		a.callbackCallerID = id
	}
	for q, h := range a.Handoff {
		key := "ari.handoff." + q
		switch h.Mode {
		case "", "ivrd":
		case "dialplan":
			if h.Context == "" {
				return bad(key+".context", "mode dialplan needs the context to continue in")
			}
		default:
			return bad(key+".mode", "%q is not one of ivrd, dialplan", h.Mode)
		}
		if h.Priority < 0 {
			return bad(key+".priority", "must not be negative")
		}
	}
	return nil
}

func checkURL(key, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return bad(key, "%q is not a URL: %v", raw, err)
	}
	if !slices.Contains(schemes, u.Scheme) || u.Host == "" {
		return bad(key, "%q must be a %s URL with a host", raw, strings.Join(schemes, " or "))
	}
	return nil
}

func (s *SIPConfig) validate() error {
	if s.UDP == "" && s.TCP == "" {
		return bad("sip.udp", "sip is enabled but neither sip.udp nor sip.tcp is set")
	}
	if err := checkAddr("sip.udp", s.UDP, true); err != nil {
		return err
	}
	if err := checkAddr("sip.tcp", s.TCP, true); err != nil {
		return err
	}
	if err := s.validateMedia(); err != nil {
		return err
	}
	if (s.AgentAuth.Username == "") != (s.AgentAuth.Password == "") {
		return bad("sip.agent_auth", "give both username and password, or neither (password: IVRD_SIP_AGENT_AUTH_PASSWORD)")
	}
	if s.AgentTLSCA != "" {
		pem, err := os.ReadFile(s.AgentTLSCA)
		if err != nil {
			return bad("sip.agent_tls_ca", "%v", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return bad("sip.agent_tls_ca", "%s holds no PEM certificate", s.AgentTLSCA)
		}
		s.agentTLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	if err := s.validateLimits(); err != nil {
		return err
	}
	return s.Trunk.validate(s.UDP, s.TCP)
}

// trunkKeys names the keys of the sip.Trunk fields.
var trunkKeys = map[string]string{
	"Address":              "sip.trunk.address",
	"Transport":            "sip.trunk.transport",
	"Credentials.Username": "sip.trunk.username",
	"Credentials.Password": "sip.trunk.password",
	"CallerID":             "sip.trunk.caller_id",
	"Domain":               "sip.trunk.domain",
	"RingTimeout":          "sip.trunk.ring_timeout",
}

// validate checks the trunk with the driver's own rules, naming the key,
// and that its transport has a listener for the trunk's requests to come
// back to.
func (t *SIPTrunkConfig) validate(udp, tcp string) error {
	if t.Address == "" {
		for _, k := range []struct{ key, v string }{{"username", t.Username}, {"password", t.Password},
			{"caller_id", t.CallerID}, {"domain", t.Domain}} {
			if k.v != "" {
				return bad("sip.trunk.address", "empty, but sip.trunk.%s is set: give the trunk's host:port, or remove the trunk", k.key)
			}
		}
	}
	if err := t.trunk().Validate(); err != nil {
		te, ok := errors.AsType[*sip.TrunkError](err)
		if !ok {
			return bad("sip.trunk", "%v", err)
		}
		key := trunkKeys[te.Field]
		if key == "" {
			key = "sip.trunk"
		}
		if strings.HasPrefix(te.Field, "Credentials.") {
			return bad(key, "%s (password: IVRD_SIP_TRUNK_PASSWORD)", te.Reason)
		}
		return bad(key, "%s", te.Reason)
	}
	if t.Address == "" {
		return nil
	}
	switch strings.ToLower(t.Transport) {
	case "udp":
		if udp == "" {
			return bad("sip.trunk.transport", "udp, but sip.udp is empty: the trunk's requests come back to ivrd's listener; set sip.udp or use tcp")
		}
	case "tcp":
		if tcp == "" {
			return bad("sip.trunk.transport", "tcp, but sip.tcp is empty: the trunk's requests come back to ivrd's listener; set sip.tcp or use udp")
		}
	}
	return nil
}

// validateMedia checks the RTP ports and the media address, which serve
// SIP calls and browser agents alike.
func (s *SIPConfig) validateMedia() error {
	lo, hi, err := portRange(s.RTPPorts)
	switch {
	case err != nil:
		return bad("sip.rtp_ports", "%v", err)
	case hi-lo < 2:
		return bad("sip.rtp_ports", "%q leaves room for no call", s.RTPPorts)
	}
	s.rtpMin, s.rtpMax = lo, hi
	if s.MediaIP == "" {
		host := s.UDP
		if host == "" {
			host = s.TCP
		}
		h, _, _ := net.SplitHostPort(host)
		s.MediaIP = h
	}
	ip, err := netip.ParseAddr(s.MediaIP)
	if err != nil {
		return bad("sip.media_ip", "%q is not an IP address (RTP binds to it and it goes in SDP)", s.MediaIP)
	}
	if ip.IsUnspecified() {
		return bad("sip.media_ip", "%s cannot be announced in SDP; set sip.media_ip to this host's address", s.MediaIP)
	}
	s.mediaIP = ip
	return nil
}

func checkAddr(key, addr string, allowEmpty bool) error {
	if addr == "" {
		if allowEmpty {
			return nil
		}
		return bad(key, "must not be empty")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad(key, "%q is not host:port: %v", addr, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return bad(key, "%q: host must be an IP address", addr)
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return bad(key, "%q: port must be 0-65535", addr)
	}
	return nil
}

// users returns the configured users for the web server.
func (h *HTTPConfig) users() []web.User {
	out := make([]web.User, len(h.Users))
	for i, u := range h.Users {
		out[i] = web.User{Name: u.Name, Role: web.Role(u.Role), TokenSHA256: strings.ToLower(u.TokenSHA256)}
	}
	return out
}

func (h *HTTPConfig) validateUsers() error {
	if err := web.ValidateUsers(h.users()); err != nil {
		if ue, ok := errors.AsType[*web.UserError](err); ok {
			return bad(fmt.Sprintf("http.users[%d].%s", ue.Index, ue.Field), "%s", ue.Reason)
		}
		return bad("http.users", "%v", err)
	}
	return nil
}

// minRetention bounds recordings.retention from below: a recording must
// live long enough to be listened to.
const minRetention = time.Hour

func (r *RecordingsConfig) validate() error {
	d, err := parseRetention(r.Retention)
	if err != nil {
		return bad("recordings.retention", "%v", err)
	}
	switch {
	case d < minRetention:
		return bad("recordings.retention", "%s is under %s: a recording must live long enough to be listened to", r.Retention, shortDuration(minRetention))
	case d > recordings.MaxRetention:
		return bad("recordings.retention", "%s is over 6 months: recordings may be kept no more than 6 months (CNIL deliberation 2014-474)", r.Retention)
	}
	r.retention = d
	switch {
	case r.EncryptionKey != "" && r.EncryptionKeyFile != "":
		return bad("recordings.encryption_key", "set either recordings.encryption_key or recordings.encryption_key_file, not both")
	case r.EncryptionKey != "":
		// The key is never part of the message.
		if r.key, err = parseKey(r.EncryptionKey); err != nil {
			return bad("recordings.encryption_key", "%v", err)
		}
	case r.EncryptionKeyFile != "":
		b, err := os.ReadFile(r.EncryptionKeyFile)
		if err != nil {
			return bad("recordings.encryption_key_file", "%v", err)
		}
		if r.key, err = parseKey(string(b)); err != nil {
			return bad("recordings.encryption_key_file", "%s: %v", r.EncryptionKeyFile, err)
		}
	}
	return nil
}

// parseRetention reads "180d" (whole days) or a Go duration ("4320h").
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("%s has no unit; write %sd (days) or a duration like 4320h", s, s)
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100000 {
			return 0, fmt.Errorf("%q: want whole days like 180d, or a duration like 4320h", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want whole days like 180d, or a duration like 4320h", s)
	}
	return d, nil
}

// parseKey reads a key given as 64 hex digits or as the base64 of 32
// bytes; surrounding spaces (a key file's newline) are ignored.
func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*recordings.KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == recordings.KeySize {
			return k, nil
		}
	}
	return nil, errors.New("want 64 hex digits or the base64 of 32 bytes (head -c 32 /dev/urandom | base64)")
}

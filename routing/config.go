package routing

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the routing: section of ivrd.yaml: the agents and how contacts
// are offered to them. Durations are Go durations ("15s", "3m").
type Config struct {
	// OfferTimeout is how long an agent has to take an offer before it is
	// withdrawn and the contact offered to the next agent.
	OfferTimeout time.Duration `mapstructure:"offer_timeout"`
	// WrapUp is the time after each conversation during which the agent is
	// offered nothing, for the notes; 0 for none.
	WrapUp time.Duration `mapstructure:"wrap_up"`
	// NoAnswer is the state of an agent who let an offer ring out: "away"
	// (an absent agent is not offered call after call) or "available".
	NoAnswer string `mapstructure:"no_answer"`
	// DefaultHandleTime is the handle time the estimated wait assumes for
	// a queue until its conversations give one.
	DefaultHandleTime time.Duration      `mapstructure:"default_handle_time"`
	ServiceLevel      ServiceLevelConfig `mapstructure:"service_level"`
	Callbacks         CallbacksConfig    `mapstructure:"callbacks"`
	Agents            []AgentConfig      `mapstructure:"agents"`
}

// CallbacksConfig limits callback requests.
type CallbacksConfig struct {
	// MaxPerDay is how many callbacks one number may request in 24 hours,
	// across queues: a caller (or a script) cannot fill the queues with
	// requests.
	MaxPerDay int `mapstructure:"max_per_day"`
}

// ServiceLevelConfig says how the service level is counted.
type ServiceLevelConfig struct {
	// Threshold is the answer time within which a contact counts as
	// answered in time.
	Threshold time.Duration `mapstructure:"threshold"`
	// ShortAbandon: abandons after a shorter wait are left out of the
	// service level (the caller hung up before anyone could answer).
	ShortAbandon time.Duration `mapstructure:"short_abandon"`
}

// AgentConfig is one agent.
type AgentConfig struct {
	// Name is the agent's http.users name: the desk signs in with its token.
	Name string `mapstructure:"name"`
	// Phone is the sip: or sips: URI ivrd rings for the agent's calls;
	// empty, the agent takes calls in the browser (the desk).
	Phone string `mapstructure:"phone"`
	// Dial is the Asterisk dial string of the agent's phone (PJSIP/alice),
	// used by the Asterisk driver before Phone.
	Dial string `mapstructure:"dial"`
	// Skills are the agent's skills with a level from 1 to 10.
	Skills map[string]int `mapstructure:"skills"`
	// Languages the agent speaks; empty, any.
	Languages []string `mapstructure:"languages"`
	// Queues the agent serves; empty, every queue.
	Queues []string `mapstructure:"queues"`
	// Capacity is how many contacts of each channel the agent handles at
	// once (voice at most 1). Empty: DefaultCapacity. Given, a channel left
	// out is 0: the agent is offered none of it.
	Capacity map[string]int `mapstructure:"capacity"`
	// WrapUp replaces routing.wrap_up for this agent when positive.
	WrapUp time.Duration `mapstructure:"wrap_up"`
}

// Defaults of the configuration.
const (
	DefaultOfferTimeout      = 15 * time.Second
	DefaultWrapUp            = 10 * time.Second
	DefaultNoAnswer          = AgentAway
	DefaultHandleTime        = 3 * time.Minute
	DefaultThreshold         = 90 * time.Second
	DefaultShortAbandon      = 5 * time.Second
	DefaultCallbacksPerDay   = 3
	MaxCallbacksPerDay       = 100
	MinOfferTimeout          = time.Second
	MaxOfferTimeout          = 5 * time.Minute
	MaxWrapUp                = time.Hour
	MaxHandleTime            = 24 * time.Hour
	MaxThreshold             = time.Hour
	MaxSkillLevel            = 10
	MaxCapacity              = 100 // contacts of one channel at once
	maxAgentNameLen          = 64  // as web.MaxUserName
	maxLanguageLen           = 35  // a BCP 47 tag
	maxDialLen               = 256
	maxPhoneLen              = 256
	defaultCapacityVoice     = 1
	defaultCapacityWebRTC    = 1
	defaultCapacityChat      = 3
	defaultCapacityEmail     = 5
	maxAgentQueuesOrLanguage = 64
)

// DefaultCapacity is the capacity of an agent whose configuration gives
// none: one call, three chats and five emails at once.
func DefaultCapacity() map[string]int {
	return map[string]int{
		ChannelVoice:  defaultCapacityVoice,
		ChannelWebRTC: defaultCapacityWebRTC,
		ChannelChat:   defaultCapacityChat,
		ChannelEmail:  defaultCapacityEmail,
	}
}

// Defaults returns the default values of the routing section, keyed
// relative to it in the dotted form viper's SetDefault takes.
func Defaults() map[string]any {
	return map[string]any{
		"offer_timeout":               DefaultOfferTimeout.String(),
		"wrap_up":                     DefaultWrapUp.String(),
		"no_answer":                   DefaultNoAnswer,
		"default_handle_time":         DefaultHandleTime.String(),
		"service_level.threshold":     DefaultThreshold.String(),
		"service_level.short_abandon": DefaultShortAbandon.String(),
		"callbacks.max_per_day":       DefaultCallbacksPerDay,
		"agents":                      []any{},
	}
}

// DefaultConfig is the configuration Defaults describes: no agents.
func DefaultConfig() Config {
	return Config{
		OfferTimeout:      DefaultOfferTimeout,
		WrapUp:            DefaultWrapUp,
		NoAnswer:          DefaultNoAnswer,
		DefaultHandleTime: DefaultHandleTime,
		ServiceLevel:      ServiceLevelConfig{Threshold: DefaultThreshold, ShortAbandon: DefaultShortAbandon},
		Callbacks:         CallbacksConfig{MaxPerDay: DefaultCallbacksPerDay},
	}
}

// ConfigError names the key of the routing section at fault, relative to
// the section ("agents[1].skills.facturation"), and what is wrong with it.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Reason }

func bad(key, format string, args ...any) error {
	return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration; the error is a *ConfigError.
func (c *Config) Validate() error {
	if err := between("offer_timeout", c.OfferTimeout, MinOfferTimeout, MaxOfferTimeout); err != nil {
		return err
	}
	if c.WrapUp < 0 || c.WrapUp > MaxWrapUp {
		return bad("wrap_up", "%s: want 0 (no wrap-up) to %s", c.WrapUp, MaxWrapUp)
	}
	switch c.NoAnswer {
	case AgentAway, AgentAvailable:
	default:
		return bad("no_answer", "%q: want away (the agent is offered nothing until back) or available", c.NoAnswer)
	}
	if err := between("default_handle_time", c.DefaultHandleTime, time.Second, MaxHandleTime); err != nil {
		return err
	}
	sl := c.ServiceLevel
	if err := between("service_level.threshold", sl.Threshold, time.Second, MaxThreshold); err != nil {
		return err
	}
	if sl.ShortAbandon < 0 || sl.ShortAbandon >= sl.Threshold {
		return bad("service_level.short_abandon", "%s: want 0 (count every abandon) up to less than the threshold %s",
			sl.ShortAbandon, sl.Threshold)
	}
	if n := c.Callbacks.MaxPerDay; n < 1 || n > MaxCallbacksPerDay {
		return bad("callbacks.max_per_day", "%d: want 1 to %d requests per number in 24 hours", n, MaxCallbacksPerDay)
	}
	names := make(map[string]int, len(c.Agents))
	for i := range c.Agents {
		a := &c.Agents[i]
		key := fmt.Sprintf("agents[%d]", i)
		if err := a.validate(key); err != nil {
			return err
		}
		if j, dup := names[a.Name]; dup {
			return bad(key+".name", "%q is already the name of agents[%d]", a.Name, j)
		}
		names[a.Name] = i
	}
	return nil
}

func between(key string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return bad(key, "%s: want %s to %s", d, lo, hi)
	}
	return nil
}

func (a *AgentConfig) validate(key string) error {
	if !validAgentName(a.Name) {
		return bad(key+".name", "%q: want the agent's http.users name: 1 to %d letters, digits, '.', '_', '-' or '@'",
			a.Name, maxAgentNameLen)
	}
	if a.Phone != "" {
		if err := validPhone(a.Phone); err != nil {
			return bad(key+".phone", "%q: %v", a.Phone, err)
		}
	}
	if a.Dial != "" {
		tech, res, ok := strings.Cut(a.Dial, "/")
		if !ok || tech == "" || res == "" || len(a.Dial) > maxDialLen || strings.ContainsAny(a.Dial, " \t\r\n,&") {
			return bad(key+".dial", "%q: want an Asterisk dial string such as PJSIP/alice (no spaces, ',' or '&')", a.Dial)
		}
	}
	for _, name := range sortedKeys(a.Skills) {
		lvl := a.Skills[name]
		if !ValidName(name) {
			return bad(key+".skills."+name, "skill name: want 1 to %d letters, digits, '.', '_' or '-'", MaxNameLen)
		}
		if lvl < 1 || lvl > MaxSkillLevel {
			return bad(key+".skills."+name, "level %d: want 1 to %d", lvl, MaxSkillLevel)
		}
	}
	if len(a.Languages) > maxAgentQueuesOrLanguage {
		return bad(key+".languages", "%d languages: at most %d", len(a.Languages), maxAgentQueuesOrLanguage)
	}
	for i, l := range a.Languages {
		if !validLanguage(l) {
			return bad(fmt.Sprintf("%s.languages[%d]", key, i), "%q: want a language tag such as fr or en-GB", l)
		}
		if slices.ContainsFunc(a.Languages[:i], func(o string) bool { return strings.EqualFold(o, l) }) {
			return bad(fmt.Sprintf("%s.languages[%d]", key, i), "%q is listed twice", l)
		}
	}
	if len(a.Queues) > maxAgentQueuesOrLanguage {
		return bad(key+".queues", "%d queues: at most %d", len(a.Queues), maxAgentQueuesOrLanguage)
	}
	for i, qn := range a.Queues {
		if !ValidName(qn) {
			return bad(fmt.Sprintf("%s.queues[%d]", key, i), "%q: want a queue name of 1 to %d letters, digits, '.', '_' or '-'", qn, MaxNameLen)
		}
		if slices.Contains(a.Queues[:i], qn) {
			return bad(fmt.Sprintf("%s.queues[%d]", key, i), "%q is listed twice", qn)
		}
	}
	total := 0
	for _, ch := range sortedKeys(a.Capacity) {
		n := a.Capacity[ch]
		ck := key + ".capacity." + ch
		switch {
		case ch == ChannelCallback:
			return bad(ck, "callbacks take the agent's voice capacity: set voice")
		case !ValidChannel(ch):
			return bad(ck, "unknown channel: want voice, webrtc, chat or email")
		case n < 0:
			return bad(ck, "%d: must not be negative (0: none of this channel)", n)
		case ch == ChannelVoice && n > 1:
			return bad(ck, "%d: an agent takes one phone call at a time (0 or 1)", n)
		case n > MaxCapacity:
			return bad(ck, "%d: at most %d", n, MaxCapacity)
		}
		total += n
	}
	if len(a.Capacity) > 0 && total == 0 {
		return bad(key+".capacity", "every channel is 0: the agent would be offered nothing (leave capacity out for the defaults)")
	}
	if a.WrapUp < 0 || a.WrapUp > MaxWrapUp {
		return bad(key+".wrap_up", "%s: want 0 (routing.wrap_up) to %s", a.WrapUp, MaxWrapUp)
	}
	return nil
}

// validAgentName is web.ValidUserName: the agent signs in to the desk as
// that user.
func validAgentName(s string) bool {
	if s == "" || len(s) > maxAgentNameLen {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-', c == '@':
		default:
			return false
		}
	}
	return true
}

func validPhone(s string) error {
	if len(s) > maxPhoneLen {
		return fmt.Errorf("longer than %d bytes", maxPhoneLen)
	}
	scheme, rest, ok := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "sip" && scheme != "sips") {
		return fmt.Errorf("want a sip: or sips: URI such as sip:alice@192.0.2.10:5060")
	}
	if strings.ContainsAny(s, " \t\r\n<>\"") {
		return fmt.Errorf("want a bare URI, without spaces, quotes or <>")
	}
	hostport := rest
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		hostport = hostport[i+1:]
	}
	if i := strings.IndexAny(hostport, ";?"); i >= 0 {
		hostport = hostport[:i]
	}
	u, err := url.Parse("sip://" + hostport)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("want a sip: URI with a host, such as sip:alice@192.0.2.10:5060")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want 1 to 65535", p)
		}
	}
	return nil
}

func validLanguage(s string) bool {
	if s == "" || len(s) > maxLanguageLen {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9', c == '-' || c == '_':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// skillReq is a skill a contact requires: "name", or "name:level" for a
// minimum level.
type skillReq struct {
	name  string // lower case
	level int    // 1 when not given
}

// parseSkill reads a contact's skill requirement.
func parseSkill(s string) (skillReq, error) {
	name, lvl, hasLevel := strings.Cut(s, ":")
	r := skillReq{name: strings.ToLower(name), level: 1}
	if r.name == "" {
		return r, fmt.Errorf("skill %q: empty name", s)
	}
	if hasLevel {
		n, err := strconv.Atoi(lvl)
		if err != nil || n < 1 || n > MaxSkillLevel {
			return r, fmt.Errorf("skill %q: level %q: want 1 to %d", s, lvl, MaxSkillLevel)
		}
		r.level = n
	}
	return r, nil
}

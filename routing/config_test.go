package routing

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Agents = []AgentConfig{
			{Name: "alice@example.com", Phone: "sip:alice@192.0.2.10:5060;transport=udp", Skills: map[string]int{"facturation": 3},
				Languages: []string{"fr", "en-GB"}, Queues: []string{"support"}, Capacity: map[string]int{"voice": 1, "chat": 4}},
			{Name: "bob", Dial: "PJSIP/bob", WrapUp: 30 * time.Second},
			{Name: "carol.d", Phone: "sips:carol@pbx.example.com"},
		}
		return c
	}
	tests := []struct {
		name   string
		edit   func(*Config)
		key    string
		reason string // a part of the reason
	}{
		{"valid", func(*Config) {}, "", ""},
		{"no agents", func(c *Config) { c.Agents = nil }, "", ""},
		{"offer timeout too short", func(c *Config) { c.OfferTimeout = 500 * time.Millisecond }, "offer_timeout", "want 1s to 5m0s"},
		{"offer timeout too long", func(c *Config) { c.OfferTimeout = time.Hour }, "offer_timeout", "want 1s to 5m0s"},
		{"negative wrap-up", func(c *Config) { c.WrapUp = -time.Second }, "wrap_up", "want 0 (no wrap-up)"},
		{"no wrap-up", func(c *Config) { c.WrapUp = 0 }, "", ""},
		{"no_answer", func(c *Config) { c.NoAnswer = "busy" }, "no_answer", `"busy": want away`},
		{"handle time", func(c *Config) { c.DefaultHandleTime = 0 }, "default_handle_time", "want 1s"},
		{"threshold", func(c *Config) { c.ServiceLevel.Threshold = 0 }, "service_level.threshold", "want 1s"},
		{"short abandon over threshold", func(c *Config) { c.ServiceLevel.ShortAbandon = 2 * time.Minute },
			"service_level.short_abandon", "less than the threshold 1m30s"},
		{"agent name", func(c *Config) { c.Agents[1].Name = "bob smith" }, "agents[1].name", "http.users name"},
		{"empty agent name", func(c *Config) { c.Agents[0].Name = "" }, "agents[0].name", "http.users name"},
		{"duplicate agent", func(c *Config) { c.Agents[2].Name = "bob" }, "agents[2].name", "already the name of agents[1]"},
		{"phone scheme", func(c *Config) { c.Agents[0].Phone = "tel:+33100000000" }, "agents[0].phone", "sip: or sips: URI"},
		{"phone without host", func(c *Config) { c.Agents[0].Phone = "sip:alice@" }, "agents[0].phone", "with a host"},
		{"phone port", func(c *Config) { c.Agents[0].Phone = "sip:alice@192.0.2.1:99999" }, "agents[0].phone", "port"},
		{"phone in brackets", func(c *Config) { c.Agents[0].Phone = "<sip:alice@192.0.2.1>" }, "agents[0].phone", "sip: or sips:"},
		{"dial string", func(c *Config) { c.Agents[1].Dial = "bob" }, "agents[1].dial", "PJSIP/alice"},
		{"skill level 0", func(c *Config) { c.Agents[0].Skills["facturation"] = 0 }, "agents[0].skills.facturation", "level 0: want 1 to 10"},
		{"skill level 11", func(c *Config) { c.Agents[0].Skills["facturation"] = 11 }, "agents[0].skills.facturation", "level 11"},
		{"skill name", func(c *Config) { c.Agents[0].Skills["a b"] = 1 }, "agents[0].skills.a b", "skill name"},
		{"language", func(c *Config) { c.Agents[0].Languages[1] = "en gb" }, "agents[0].languages[1]", "language tag"},
		{"language twice", func(c *Config) { c.Agents[0].Languages[1] = "FR" }, "agents[0].languages[1]", "listed twice"},
		{"queue name", func(c *Config) { c.Agents[0].Queues = []string{"a/b"} }, "agents[0].queues[0]", "queue name"},
		{"unknown channel", func(c *Config) { c.Agents[0].Capacity["fax"] = 1 }, "agents[0].capacity.fax", "unknown channel"},
		{"two calls", func(c *Config) { c.Agents[0].Capacity["voice"] = 2 }, "agents[0].capacity.voice", "one phone call at a time"},
		{"negative capacity", func(c *Config) { c.Agents[0].Capacity["chat"] = -1 }, "agents[0].capacity.chat", "must not be negative"},
		{"capacity all zero", func(c *Config) { c.Agents[0].Capacity = map[string]int{"voice": 0} }, "agents[0].capacity", "offered nothing"},
		{"agent wrap-up", func(c *Config) { c.Agents[1].WrapUp = -time.Second }, "agents[1].wrap_up", "want 0"},
		{"no callbacks a day", func(c *Config) { c.Callbacks.MaxPerDay = 0 }, "callbacks.max_per_day", "want 1 to 100"},
		{"too many callbacks a day", func(c *Config) { c.Callbacks.MaxPerDay = 101 }, "callbacks.max_per_day", "want 1 to 100"},
		{"callback capacity", func(c *Config) { c.Agents[0].Capacity["callback"] = 1 }, "agents[0].capacity.callback", "voice capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want a *ConfigError", err)
			}
			if ce.Key != tt.key || !strings.Contains(ce.Reason, tt.reason) {
				t.Errorf("Validate = key %q reason %q, want key %q reason with %q", ce.Key, ce.Reason, tt.key, tt.reason)
			}
		})
	}
}

// Defaults decoded the way ivrd reads its configuration give
// DefaultConfig, and an agents section in YAML decodes as documented.
func TestDefaultsDecode(t *testing.T) {
	v := viper.New()
	for k, val := range Defaults() {
		v.SetDefault("routing."+k, val)
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(`
routing:
  offer_timeout: 20s
  agents:
    - name: alice
      phone: sip:alice@192.0.2.10
      skills: {facturation: 3, technique: 1}
      languages: [fr]
      capacity: {voice: 1, chat: 2}
    - name: bob
`)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Routing Config `mapstructure:"routing"`
	}
	if err := v.UnmarshalExact(&got, viper.DecodeHook(mapstructure.StringToTimeDurationHookFunc())); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.OfferTimeout = 20 * time.Second
	want.Agents = []AgentConfig{
		{Name: "alice", Phone: "sip:alice@192.0.2.10", Skills: map[string]int{"facturation": 3, "technique": 1},
			Languages: []string{"fr"}, Capacity: map[string]int{"voice": 1, "chat": 2}},
		{Name: "bob"},
	}
	if !reflect.DeepEqual(got.Routing, want) {
		t.Errorf("decoded\n %+v\nwant %+v", got.Routing, want)
	}
	if err := got.Routing.Validate(); err != nil {
		t.Error(err)
	}
	db := openDB(t, t.TempDir()+"/ivrd.db")
	defer db.Close()
	if _, err := New(db, WithConfig(Config{})); err == nil {
		t.Error("New accepted an invalid configuration")
	}
}

func TestParseSkill(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    skillReq
		wantErr bool
	}{
		{"facturation", skillReq{"facturation", 1}, false},
		{"Facturation:7", skillReq{"facturation", 7}, false},
		{"x:0", skillReq{}, true},
		{"x:11", skillReq{}, true},
		{"x:", skillReq{}, true},
		{":3", skillReq{}, true},
	} {
		got, err := parseSkill(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("parseSkill(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func FuzzParseSkill(f *testing.F) {
	for _, s := range []string{"facturation", "fr:3", "x:", ":", "a:b:c", "x:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseSkill(s)
		if err != nil {
			return
		}
		if r.name == "" || r.level < 1 || r.level > MaxSkillLevel || r.name != strings.ToLower(r.name) {
			t.Errorf("parseSkill(%q) = %+v", s, r)
		}
	})
}

func FuzzValidPhone(f *testing.F) {
	for _, s := range []string{"sip:alice@192.0.2.1", "sips:bob@example.com:5061;transport=tls", "sip:@", "sip:[::1]:5060", "tel:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validPhone(s) == nil && !strings.HasPrefix(strings.ToLower(s), "sip") {
			t.Errorf("validPhone(%q) accepted a URI that is not sip: or sips:", s)
		}
	})
}

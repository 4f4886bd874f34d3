package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ivrd/ivrd/web"
)

func configFrom(t *testing.T, yaml string, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "ivrd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse(append([]string{"--config", path}, args...)); err != nil {
		t.Fatal(err)
	}
	return loadConfig(fs)
}

func TestConfigDefaults(t *testing.T) {
	c, err := configFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.UDP != "127.0.0.1:5060" || c.SIP.TCP != "127.0.0.1:5060" || c.HTTP.Addr != "127.0.0.1:8080" {
		t.Errorf("listen defaults: sip %s/%s http %s", c.SIP.UDP, c.SIP.TCP, c.HTTP.Addr)
	}
	if c.ARI.MOHClass != "default" || c.ARI.HoldAnnounce != time.Minute {
		t.Errorf("ari.moh_class %q hold_announce %v, want default and 1m", c.ARI.MOHClass, c.ARI.HoldAnnounce)
	}
	if c.HTTP.Pprof {
		t.Error("http.pprof must be off by default")
	}
	if c.Database.Path != filepath.Join("data", "ivrd.db") || c.TTS.CacheDir != filepath.Join("data", "tts") {
		t.Errorf("paths: db %s tts %s", c.Database.Path, c.TTS.CacheDir)
	}
	if c.SIP.MediaTimeout != 30*time.Second || c.Shutdown.Drain != 30*time.Second {
		t.Errorf("durations: media %v drain %v", c.SIP.MediaTimeout, c.Shutdown.Drain)
	}
	if c.SIP.rtpMin != 10000 || c.SIP.rtpMax != 20000 || c.SIP.mediaIP.String() != "127.0.0.1" {
		t.Errorf("media: %d-%d %v", c.SIP.rtpMin, c.SIP.rtpMax, c.SIP.mediaIP)
	}
}

// The shipped configs/ivrd.yaml must decode exactly to the defaults.
func TestShippedConfigMatchesDefaults(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse([]string{"--config", "../../configs/ivrd.yaml"}); err != nil {
		t.Fatal(err)
	}
	shipped, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	def, err := configFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shipped, def) {
		t.Errorf("configs/ivrd.yaml differs from the built-in defaults:\n%+v\n%+v", shipped, def)
	}
}

func TestConfigPrecedence(t *testing.T) {
	c, err := configFrom(t, "sip:\n  udp: 127.0.0.1:5070\nhttp:\n  addr: 127.0.0.1:9000\n",
		map[string]string{"IVRD_HTTP_ADDR": "127.0.0.1:9001", "IVRD_SIP_MEDIA_TIMEOUT": "5s"},
		"--sip-udp", "127.0.0.1:5080")
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.UDP != "127.0.0.1:5080" {
		t.Errorf("flag should win over file: %s", c.SIP.UDP)
	}
	if c.HTTP.Addr != "127.0.0.1:9001" {
		t.Errorf("env should win over file: %s", c.HTTP.Addr)
	}
	if c.SIP.MediaTimeout != 5*time.Second {
		t.Errorf("env duration: %v", c.SIP.MediaTimeout)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "sip:\n  udpp: 127.0.0.1:5060\n", "udpp"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"bad format", "log:\n  format: xml\n", "log.format"},
		{"bad http", "http:\n  addr: localhost\n", "http.addr"},
		{"hostname", "http:\n  addr: example.org:80\n", "http.addr"},
		{"bad sip", "sip:\n  udp: 127.0.0.1:99999\n", "sip.udp"},
		{"no transport", "sip:\n  udp: ''\n  tcp: ''\n", "sip.udp"},
		{"bad ports", "sip:\n  rtp_ports: 20000-10000\n", "sip.rtp_ports"},
		{"ports syntax", "sip:\n  rtp_ports: lots\n", "sip.rtp_ports"},
		{"unspecified media ip", "sip:\n  udp: 0.0.0.0:5060\n", "sip.media_ip"},
		{"bad duration", "sip:\n  media_timeout: soon\n", "media_timeout"},
		{"negative drain", "shutdown:\n  drain: -1s\n", "shutdown.drain"},
		{"tts engine", "tts:\n  engine: festival\n", "tts.engine"},
		{"idle timeout", "sip:\n  tcp_idle_timeout: 0s\n", "sip.tcp_idle_timeout"},
		{"yaml syntax", "sip: [\n", "ivrd.yaml"},
		{"moh class", "ari:\n  enabled: true\n  password: x\n  moh_class: 'a,b'\n", "ari.moh_class"},
		{"hold announce", "ari:\n  enabled: true\n  password: x\n  hold_announce: -1s\n", "ari.hold_announce"},
		{"agent endpoint", "ari:\n  enabled: true\n  password: x\n  agent_endpoint: 'a/b'\n", "ari.agent_endpoint"},
		{"ari media addr", "ari:\n  enabled: true\n  password: x\n  media_addr: 0.0.0.0\n", "ari.media_addr"},
		{"half agent auth", "sip:\n  agent_auth: {username: ivrd}\n", "sip.agent_auth"},
		{"agent tls ca", "sip:\n  agent_tls_ca: /nonexistent/ca.pem\n", "sip.agent_tls_ca"},
		{"webrtc ip", "webrtc:\n  ips: [somewhere]\n", "webrtc.ips[0]"},
		{"webrtc ports", "webrtc:\n  ports: 5-4\n", "webrtc.ports"},
		{"offer timeout", "routing:\n  offer_timeout: 100ms\n", "routing.offer_timeout"},
		{"agent skill", "routing:\n  agents:\n    - {name: alice, skills: {facturation: 0}}\n", "routing.agents[0].skills.facturation"},
		{"agent phone", "routing:\n  agents:\n    - {name: alice, phone: 'tel:123'}\n", "routing.agents[0].phone"},
		{"browser agent without webrtc", "webrtc:\n  enabled: false\nrouting:\n  agents:\n    - {name: alice}\n", "routing.agents[0].phone"},
		{"dial only under native sip", "routing:\n  agents:\n    - {name: bob, dial: PJSIP/bob}\n", "routing.agents[0].phone"},
		{"tcp phone without sip.tcp", "sip:\n  tcp: ''\nrouting:\n  agents:\n    - {name: bob, phone: 'sip:bob@192.0.2.1;transport=tcp'}\n", "routing.agents[0].phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configFrom(t, tt.yaml, nil)
			if err == nil {
				t.Fatalf("config accepted, want an error naming %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestAgentsConfig(t *testing.T) {
	c, err := configFrom(t, `
routing:
  offer_timeout: 20s
  agents:
    - name: alice
      phone: sip:alice@192.0.2.10:5060
      skills: {facturation: 3, technique: 1}
      languages: [fr]
    - name: carol
webrtc:
  ports: 30000-31000
sip:
  agent_auth: {username: ivrd, password: secret}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routing
	if r.OfferTimeout != 20*time.Second || r.WrapUp != 10*time.Second || len(r.Agents) != 2 {
		t.Fatalf("routing = %+v", r)
	}
	if a := r.Agents[0]; a.Phone != "sip:alice@192.0.2.10:5060" || a.Skills["facturation"] != 3 || !reflect.DeepEqual(a.Languages, []string{"fr"}) {
		t.Errorf("agent alice = %+v", a)
	}
	if c.WebRTC.portMin != 30000 || c.WebRTC.portMax != 31000 || len(c.WebRTC.ips) != 1 || c.WebRTC.ips[0].String() != "127.0.0.1" {
		t.Errorf("webrtc: ports %d-%d ips %v, want 30000-31000 on the media address", c.WebRTC.portMin, c.WebRTC.portMax, c.WebRTC.ips)
	}
	if c.SIP.AgentAuth.Password != "secret" {
		t.Errorf("sip.agent_auth = %+v", c.SIP.AgentAuth)
	}
}

func TestMissingExplicitConfigFile(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs)
	_ = fs.Parse([]string{"--config", filepath.Join(t.TempDir(), "nope.yaml")})
	if _, err := loadConfig(fs); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("want an error naming the missing file, got %v", err)
	}
}

func TestRecordingsConfig(t *testing.T) {
	c, err := configFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Recordings
	if r.Dir != filepath.Join("data", "recordings") || r.retention != 180*24*time.Hour || r.PurgeInterval != time.Hour || r.key != nil {
		t.Errorf("defaults: dir %s retention %v purge %v key %v", r.Dir, r.retention, r.PurgeInterval, r.key)
	}

	hexKey := strings.Repeat("0123456789abcdef", 4)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		yaml      string
		env       map[string]string
		retention time.Duration
		key       string // hex of the key, "" for none
	}{
		{"days", "recordings:\n  retention: 30d\n", nil, 30 * 24 * time.Hour, ""},
		{"duration", "recordings:\n  retention: 72h\n", nil, 72 * time.Hour, ""},
		{"six months", "recordings:\n  retention: 181d\n", nil, 181 * 24 * time.Hour, ""},
		{"hex key", "recordings:\n  encryption_key: " + hexKey + "\n", nil, 180 * 24 * time.Hour, hexKey},
		{"env key", "", map[string]string{"IVRD_RECORDINGS_ENCRYPTION_KEY": hexKey}, 180 * 24 * time.Hour, hexKey},
		{"key file", "recordings:\n  encryption_key_file: " + keyFile + "\n", nil, 180 * 24 * time.Hour,
			"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configFrom(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Recordings.retention != tt.retention {
				t.Errorf("retention %v, want %v", c.Recordings.retention, tt.retention)
			}
			if got := hex.EncodeToString(c.Recordings.key); got != tt.key {
				t.Errorf("key %s, want %s", got, tt.key)
			}
		})
	}
}

func TestRetentionOverSixMonthsRefused(t *testing.T) {
	for _, v := range []string{"200d", "182d", "4400h"} {
		_, err := configFrom(t, "recordings:\n  retention: "+v+"\n", nil)
		want := "recordings.retention: " + v + " is over 6 months: recordings may be kept no more than 6 months (CNIL deliberation 2014-474)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("retention %s: error %v, want it to say %q", v, err, want)
		}
	}
}

func TestRecordingsAndUsersErrorsNameTheKey(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	user := func(name, role, h string) string {
		return "    - {name: " + name + ", role: " + role + ", token_sha256: '" + h + "'}\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"retention syntax", "recordings:\n  retention: half a year\n", "recordings.retention"},
		{"retention zero", "recordings:\n  retention: 0d\n", "recordings.retention"},
		{"purge interval", "recordings:\n  purge_interval: 0s\n", "recordings.purge_interval"},
		{"purge interval of a year", "recordings:\n  purge_interval: 8760h\n", "recordings.purge_interval"},
		{"short key", "recordings:\n  encryption_key: abcd\n", "recordings.encryption_key"},
		{"base64 of 16 bytes", "recordings:\n  encryption_key: AAAAAAAAAAAAAAAAAAAAAA==\n", "recordings.encryption_key"},
		{"both keys", "recordings:\n  encryption_key: " + hash + "\n  encryption_key_file: /k\n", "recordings.encryption_key"},
		{"missing key file", "recordings:\n  encryption_key_file: /no/such/key\n", "recordings.encryption_key_file"},
		{"bad role", "http:\n  users:\n" + user("ann", "admin", hash) + user("bob", "boss", strings.Repeat("cd", 32)), "http.users[1].role"},
		{"short hash", "http:\n  users:\n" + user("ann", "agent", "abc"), "http.users[0].token_sha256"},
		{"not hex", "http:\n  users:\n" + user("ann", "agent", strings.Repeat("zz", 32)), "http.users[0].token_sha256"},
		{"same token", "http:\n  users:\n" + user("ann", "agent", hash) + user("bob", "agent", hash), "http.users[1].token_sha256"},
		{"bad name", "http:\n  users:\n" + user("'a:b'", "agent", hash), "http.users[0].name"},
		{"twice", "http:\n  users:\n" + user("ann", "agent", hash) + user("ann", "admin", strings.Repeat("cd", 32)), "http.users[1].name"},
		{"unknown user key", "http:\n  users:\n    - {name: ann, role: agent, token: secret}\n", "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configFrom(t, tt.yaml, nil)
			if err == nil {
				t.Fatalf("config accepted, want an error naming %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	secret := strings.Repeat("9f", 31) + "zz" // 64 characters, not hex
	_, err := configFrom(t, "recordings:\n  encryption_key: "+secret+"\n", nil)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v must refuse the key without showing it", err)
	}
}

func TestUsersDecoded(t *testing.T) {
	c, err := configFrom(t, "http:\n  users:\n    - name: ann\n      role: supervisor\n      token_sha256: "+strings.Repeat("AB", 32)+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []web.User{{Name: "ann", Role: web.RoleSupervisor, TokenSHA256: strings.Repeat("ab", 32)}}
	if got := c.HTTP.users(); !reflect.DeepEqual(got, want) {
		t.Errorf("users %+v, want %+v", got, want)
	}
}

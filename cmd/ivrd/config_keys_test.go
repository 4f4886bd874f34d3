package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/routing"
)

// yamlFor writes one key ("sip.trunk.ring_timeout") as nested YAML.
func yamlFor(key, value string) string {
	var b strings.Builder
	parts := strings.Split(key, ".")
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// durationKeys are the duration keys of the configuration outside lists.
func durationKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for _, k := range configKeys(reflect.TypeFor[Config](), "") {
		if k.typ == durationType {
			keys = append(keys, k.key)
		}
	}
	if len(keys) < 14 {
		t.Fatalf("only %d duration keys found: %v", len(keys), keys)
	}
	return keys
}

// A duration without a unit is refused, from the file or the environment,
// naming the key; it used to be read as nanoseconds.
func TestDurationWithoutUnitRefused(t *testing.T) {
	for _, key := range durationKeys(t) {
		t.Run(key, func(t *testing.T) {
			// The file first: t.Setenv lasts until the end of the test.
			want := "key " + key + ": 30 has no unit; write 30s"
			if _, err := configFrom(t, yamlFor(key, "30"), nil); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("file: error %v, want %q", err, want)
			}
			want15 := "key " + key + ": 1.5 has no unit; write 1.5s"
			if _, err := configFrom(t, yamlFor(key, "1.5"), nil); err == nil || !strings.Contains(err.Error(), want15) {
				t.Errorf("file: error %v, want %q", err, want15)
			}
			if _, err := configFrom(t, "", map[string]string{envName(key): "30"}); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want %q", envName(key), err, want)
			}
			want = "key " + key + `: "30 s" is not a duration`
			if _, err := configFrom(t, "", map[string]string{envName(key): "30 s"}); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want %q", envName(key), err, want)
			}
		})
	}
	tests := []struct{ name, yaml, want string }{
		{"agent's wrap-up", "routing:\n  agents:\n    - {name: alice, wrap_up: 30}\n", "key routing.agents[0].wrap_up: 30 has no unit; write 30s"},
		{"retention", "recordings:\n  retention: 180\n", "key recordings.retention: 180 has no unit; write 180d (days)"},
		{"bool", "shutdown:\n  drain: true\n", "key shutdown.drain: true is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := configFrom(t, tt.yaml, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A plain 0 is a duration of 0 wherever 0 means something.
func TestDurationZeroWithoutUnit(t *testing.T) {
	c, err := configFrom(t, "sip:\n  media_timeout: 0\nari:\n  hold_announce: 0\n",
		map[string]string{"IVRD_SHUTDOWN_DRAIN": "0", "IVRD_ROUTING_WRAP_UP": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.MediaTimeout != 0 || c.ARI.HoldAnnounce != 0 || c.Shutdown.Drain != 0 || c.Routing.WrapUp != 0 {
		t.Errorf("media %v hold %v drain %v wrap-up %v, want 0", c.SIP.MediaTimeout, c.ARI.HoldAnnounce, c.Shutdown.Drain, c.Routing.WrapUp)
	}
}

// Every duration key has bounds: durationLimits, routing's own, or its
// section's validate.
func TestEveryDurationBounded(t *testing.T) {
	// Keys bounded by their section's own validate.
	boundedElsewhere := map[string]string{"calls.purge_interval": "CallsConfig.validate"}
	for _, key := range durationKeys(t) {
		_, elsewhere := boundedElsewhere[key]
		limited := slices.ContainsFunc(durationLimits, func(l durationLimit) bool { return l.key == key })
		if !limited && !elsewhere && !strings.HasPrefix(key, "routing.") {
			t.Errorf("%s has no bounds: add it to durationLimits", key)
		}
	}
	for _, l := range durationLimits {
		if _, ok := durationAt(reflect.ValueOf(&Config{}).Elem(), l.key); !ok {
			t.Errorf("durationLimits: %s is not a duration key", l.key)
		}
	}
}

func TestDurationLimits(t *testing.T) {
	for _, l := range durationLimits {
		t.Run(l.key, func(t *testing.T) {
			accept := []time.Duration{l.min, l.max}
			refuse := []time.Duration{-time.Second, l.max + time.Second}
			if l.min > 0 {
				refuse = append(refuse, l.min-time.Millisecond)
			}
			if l.zero != "" || l.min == 0 {
				accept = append(accept, 0)
			} else {
				refuse = append(refuse, 0)
			}
			for _, d := range accept {
				c, err := configFrom(t, yamlFor(l.key, d.String()), nil)
				if err != nil {
					t.Errorf("%v refused: %v", d, err)
					continue
				}
				if got, _ := durationAt(reflect.ValueOf(c).Elem(), l.key); got != d {
					t.Errorf("%v read as %v", d, got)
				}
			}
			for _, d := range refuse {
				_, err := configFrom(t, yamlFor(l.key, d.String()), nil)
				if want := "key " + l.key + ": " + shortDuration(d) + ": want "; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%v: error %v, want %q", d, err, want)
				}
			}
		})
	}
	// The message gives the bounds, and what 0 means.
	_, err := configFrom(t, "sip:\n  media_timeout: 1s\n", nil)
	if want := "key sip.media_timeout: 1s: want 0 (disables) or 5s to 10m ("; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"recordings:\n  retention: 30m\n", "key recordings.retention: 30m is under 1h"},
		{"recordings:\n  retention: 0d\n", "key recordings.retention: 0d is under 1h"},
		{"ari:\n  enabled: true\n  password: x\n  reconnect_min: 5s\n  reconnect_max: 1s\n", "key ari.reconnect_max: 1s is less than ari.reconnect_min 5s"},
	} {
		if _, err := configFrom(t, tt.yaml, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

// Lists and maps are set from the environment too: lists of strings
// comma-separated or as JSON, the others as JSON.
func TestEnvListsAndMaps(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	c, err := configFrom(t, "webrtc:\n  ips: [127.0.0.9]\n", map[string]string{
		"IVRD_WEBRTC_IPS":          " 127.0.0.1, 127.0.0.2 ,",
		"IVRD_WEBRTC_NAT_1TO1_IPS": `["192.0.2.1"]`,
		"IVRD_HTTP_USERS":          `[{"name":"alice","role":"agent","token_sha256":"` + hash + `"}]`,
		"IVRD_ROUTING_AGENTS":      `[{"name":"alice","skills":{"facturation":3},"languages":["fr"],"wrap_up":"30s"}]`,
		"IVRD_TTS_VOICES":          `{"fr":"fr-be","de":"de"}`,
		"IVRD_ARI_HANDOFF":         `{"billing":{"mode":"dialplan","context":"ivrd-queue","priority":2}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.WebRTC.IPs; !reflect.DeepEqual(got, []string{"127.0.0.1", "127.0.0.2"}) {
		t.Errorf("webrtc.ips = %q", got)
	}
	if got := c.WebRTC.NAT1To1IPs; !reflect.DeepEqual(got, []string{"192.0.2.1"}) {
		t.Errorf("webrtc.nat_1to1_ips = %q", got)
	}
	if got := c.HTTP.Users; !reflect.DeepEqual(got, []UserConfig{{Name: "alice", Role: "agent", TokenSHA256: hash}}) {
		t.Errorf("http.users = %+v", got)
	}
	if a := c.Routing.Agents; len(a) != 1 || a[0].Name != "alice" || a[0].Skills["facturation"] != 3 ||
		!reflect.DeepEqual(a[0].Languages, []string{"fr"}) || a[0].WrapUp != 30*time.Second {
		t.Errorf("routing.agents = %+v", a)
	}
	if got := c.TTS.Voices; got["fr"] != "fr-be" || got["de"] != "de" {
		t.Errorf("tts.voices = %v", got)
	}
	if got := c.ARI.Handoff["billing"]; got != (ARIHandoffConfig{Mode: "dialplan", Context: "ivrd-queue", Priority: 2}) {
		t.Errorf("ari.handoff = %+v", c.ARI.Handoff)
	}

	c, err = configFrom(t, "webrtc:\n  ips: [127.0.0.9]\n", map[string]string{"IVRD_WEBRTC_IPS": "[]"})
	if err != nil || len(c.WebRTC.IPs) != 0 {
		t.Errorf("IVRD_WEBRTC_IPS=[]: ips %q, err %v; want none", c.WebRTC.IPs, err)
	}

	tests := []struct{ name, env, value, want string }{
		{"not JSON", "IVRD_HTTP_USERS", "alice", `key http.users: IVRD_HTTP_USERS: want a JSON list of objects, like '[{"name":…,"role":…,…}]'`},
		{"object for a list", "IVRD_ROUTING_AGENTS", `{"name":"alice"}`, "key routing.agents: IVRD_ROUTING_AGENTS: want a JSON list of objects"},
		{"list for a map", "IVRD_TTS_VOICES", `["fr"]`, `key tts.voices: IVRD_TTS_VOICES: want a JSON object, like '{"<name>":"…"}'`},
		{"trailing text", "IVRD_ARI_HANDOFF", `{} x`, "key ari.handoff: IVRD_ARI_HANDOFF: want a JSON object"},
		{"bad JSON list of strings", "IVRD_WEBRTC_IPS", `["127.0.0.1"`, "key webrtc.ips: IVRD_WEBRTC_IPS: want a comma-separated list or a JSON list of strings"},
		{"unknown key", "IVRD_HTTP_USERS", `[{"name":"ann","role":"agent","token":"x"}]`, "token"},
		{"checked like the file", "IVRD_HTTP_USERS", `[{"name":"ann","role":"boss","token_sha256":"` + hash + `"}]`, "http.users[0].role"},
		{"duration without unit", "IVRD_ROUTING_AGENTS", `[{"name":"alice","wrap_up":30}]`, "key routing.agents[0].wrap_up: 30 has no unit; write 30s"},
		{"fraction for a whole number", "IVRD_ROUTING_AGENTS", `[{"name":"alice","skills":{"facturation":2.5}}]`, "skills"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configFrom(t, "", map[string]string{tt.env: tt.value})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s=%s: error %v, want %q", tt.env, tt.value, err, tt.want)
			}
		})
	}
}

// Every other key is known to the loader, so that IVRD_<KEY> sets it.
func TestEveryKeySettableFromEnv(t *testing.T) {
	known := map[string]bool{}
	for k := range defaults {
		known[k] = true
	}
	for k := range routing.Defaults() {
		known["routing."+k] = true
	}
	for _, k := range configKeys(reflect.TypeFor[Config](), "") {
		if kind := k.typ.Kind(); kind == reflect.Slice || kind == reflect.Map {
			continue // setEnvLists
		}
		if !known[k.key] {
			t.Errorf("%s has no default: %s would not be read", k.key, envName(k.key))
		}
	}
	// One of each kind, through the environment.
	c, err := configFrom(t, "", map[string]string{
		"IVRD_SIP_USER_AGENT":                      "acme",
		"IVRD_HTTP_PPROF":                          "true",
		"IVRD_ROUTING_CALLBACKS_MAX_PER_DAY":       "5",
		"IVRD_ROUTING_SERVICE_LEVEL_THRESHOLD":     "60s",
		"IVRD_SIP_MEDIA_TIMEOUT":                   "0",
		"IVRD_RECORDINGS_RETENTION":                "30d",
		"IVRD_ROUTING_SERVICE_LEVEL_SHORT_ABANDON": "2s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.UserAgent != "acme" || !c.HTTP.Pprof || c.Routing.Callbacks.MaxPerDay != 5 ||
		c.Routing.ServiceLevel.Threshold != time.Minute || c.Routing.ServiceLevel.ShortAbandon != 2*time.Second ||
		c.SIP.MediaTimeout != 0 || c.Recordings.retention != 30*24*time.Hour {
		t.Errorf("from the environment: %+v", c)
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/sip"
)

// TestSIPTrunkConfig: the sip.trunk keys reach the driver's Trunk, the
// password from the environment.
func TestSIPTrunkConfig(t *testing.T) {
	c, err := configFrom(t, `
sip:
  trunk:
    address: sbc.example.com:5061
    transport: tls
    username: acme
    caller_id: "+33123456789"
    domain: operator.example
    ring_timeout: 45s
`, map[string]string{"IVRD_SIP_TRUNK_PASSWORD": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	want := sip.Trunk{
		Address:     "sbc.example.com:5061",
		Transport:   "tls",
		Credentials: sip.Credentials{Username: "acme", Password: "s3cret"},
		CallerID:    "+33123456789",
		Domain:      "operator.example",
		RingTimeout: 45 * time.Second,
	}
	if got := c.SIP.Trunk.trunk(); got != want {
		t.Errorf("trunk = %+v, want %+v", got, want)
	}
}

func TestSIPTrunkConfigDefaults(t *testing.T) {
	c, err := configFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr := c.SIP.Trunk; tr.Address != "" || tr.Transport != "udp" || tr.RingTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", tr)
	}
}

func TestSIPTrunkConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"address syntax", "sip:\n  trunk: {address: sbc.example.com}\n", "sip.trunk.address"},
		{"address port", "sip:\n  trunk: {address: '192.0.2.1:0'}\n", "sip.trunk.address"},
		{"keys without address", "sip:\n  trunk: {caller_id: '+33123456789'}\n", "sip.trunk.address"},
		{"transport", "sip:\n  trunk: {address: '192.0.2.1:5060', transport: ws}\n", "sip.trunk.transport"},
		{"tcp without sip.tcp", "sip:\n  tcp: ''\n  trunk: {address: '192.0.2.1:5060', transport: tcp}\n", "sip.trunk.transport"},
		{"udp without sip.udp", "sip:\n  udp: ''\n  trunk: {address: '192.0.2.1:5060'}\n", "sip.trunk.transport"},
		{"username alone", "sip:\n  trunk: {address: '192.0.2.1:5060', username: acme}\n", "sip.trunk.password"},
		{"password alone", "sip:\n  trunk: {address: '192.0.2.1:5060', password: x}\n", "sip.trunk.username"},
		{"caller id", "sip:\n  trunk: {address: '192.0.2.1:5060', caller_id: Accueil}\n", "sip.trunk.caller_id"},
		{"domain", "sip:\n  trunk: {address: '192.0.2.1:5060', domain: 'a@b'}\n", "sip.trunk.domain"},
		{"ring timeout", "sip:\n  trunk: {address: '192.0.2.1:5060', ring_timeout: 0s}\n", "sip.trunk.ring_timeout"},
		{"unknown key", "sip:\n  trunk: {adress: '192.0.2.1:5060'}\n", "adress"},
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

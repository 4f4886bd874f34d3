package main

import (
	"strings"
	"testing"
	"time"
)

// ari.callback_* keys: decoded, the caller ID normalised to the form ARI
// takes, and refused with the key named when a template could dial
// anything but one number, or a caller ID is not one.
func TestARICallbackConfig(t *testing.T) {
	c, err := configFrom(t, "ari:\n  enabled: true\n  password: x\n"+
		"  callback_endpoint: 'PJSIP/trunk/sip:{number}@10.0.0.1'\n"+
		"  callback_caller_id: 'Acme <+33100000000>'\n"+
		"  callback_ring_timeout: 20s\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := c.ARI
	if a.CallbackEndpoint != "PJSIP/trunk/sip:{number}@10.0.0.1" || a.callbackCallerID != `"Acme" <+33100000000>` || a.CallbackRingTimeout != 20*time.Second {
		t.Errorf("ari callback config: %q %q %v", a.CallbackEndpoint, a.callbackCallerID, a.CallbackRingTimeout)
	}
	def, err := configFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.ARI.CallbackEndpoint != "" || def.ARI.CallbackCallerID != "" || def.ARI.CallbackRingTimeout != 30*time.Second {
		t.Errorf("defaults: %q %q %v; want no endpoint, no caller id, 30s", def.ARI.CallbackEndpoint, def.ARI.CallbackCallerID, def.ARI.CallbackRingTimeout)
	}

	for _, tt := range []struct{ name, yaml, want string }{
		{"no number", "callback_endpoint: PJSIP/trunk", "ari.callback_endpoint"},
		{"second channel", "callback_endpoint: 'PJSIP/{number}@trunk&PJSIP/premium'", "ari.callback_endpoint"},
		{"not a dial string", "callback_endpoint: '{number}@trunk'", "ari.callback_endpoint"},
		{"caller id", "callback_caller_id: Acme", "ari.callback_caller_id"},
		{"caller id number", "callback_caller_id: 'Acme <01 23>'", "ari.callback_caller_id"},
		{"ring timeout", "callback_ring_timeout: 0s", "ari.callback_ring_timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configFrom(t, "ari:\n  enabled: true\n  password: x\n  "+tt.yaml+"\n", nil)
			if err == nil {
				t.Fatalf("config accepted, want an error naming %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

package main

import (
	"strings"
	"testing"
	"time"
)

func TestCallsConfig(t *testing.T) {
	c, err := configFrom(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Calls.retention != 180*24*time.Hour || c.Calls.PurgeInterval != time.Hour {
		t.Errorf("defaults: retention %v purge %v", c.Calls.retention, c.Calls.PurgeInterval)
	}
	for _, tt := range []struct {
		yaml string
		env  map[string]string
		want time.Duration
	}{
		{"calls:\n  retention: 365d\n", nil, 365 * 24 * time.Hour},
		{"calls:\n  retention: 48h\n", nil, 48 * time.Hour},
		{"", map[string]string{"IVRD_CALLS_RETENTION": "90d"}, 90 * 24 * time.Hour},
	} {
		// A subtest each: the environment is set until the test ends.
		t.Run(tt.yaml, func(t *testing.T) {
			c, err := configFrom(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Calls.retention != tt.want {
				t.Errorf("retention %v, want %v", c.Calls.retention, tt.want)
			}
		})
	}
	for _, tt := range []struct{ yaml, want string }{
		{"calls:\n  retention: 1d\n", "key calls.retention: 1d is under 2 days"},
		{"calls:\n  retention: 47h\n", "key calls.retention: 47h is under 2 days"},
		{"calls:\n  retention: -5d\n", "key calls.retention: "},
		{"calls:\n  retention: six months\n", "key calls.retention: \"six months\": want whole days"},
		{"calls:\n  purge_interval: 0s\n", "key calls.purge_interval: must be positive"},
		{"calls:\n  purge_interval: 25h\n", "key calls.purge_interval: 25h0m0s is over 24h0m0s"},
	} {
		_, err := configFrom(t, tt.yaml, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

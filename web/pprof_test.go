package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestPprof(t *testing.T) {
	users, tokens := testUsers(t)
	tests := []struct {
		name    string
		enabled bool
		user    string
		target  string
		status  int
		want    string // in the body
	}{
		{"off: index", false, "dpo", "/debug/pprof/", http.StatusNotFound, "no such endpoint"},
		{"off: heap", false, "dpo", "/debug/pprof/heap", http.StatusNotFound, "no such endpoint"},
		{"on: index", true, "dpo", "/debug/pprof/", http.StatusOK, "goroutine"},
		{"on: goroutines", true, "dpo", "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile:"},
		{"on: heap", true, "dpo", "/debug/pprof/heap?debug=1", http.StatusOK, "heap profile:"},
		{"on: unknown profile", true, "dpo", "/debug/pprof/nope", http.StatusNotFound, "Unknown profile"},
		// The profiles are an admin's: they show ivrd's internals.
		{"on: no token", true, "", "/debug/pprof/heap?debug=1", http.StatusUnauthorized, "authentication required"},
		{"on: supervisor", true, "sam", "/debug/pprof/goroutine?debug=1", http.StatusForbidden, "not allowed to role supervisor"},
		{"on: cmdline, agent", true, "alice", "/debug/pprof/cmdline", http.StatusForbidden, "not allowed to role agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Config{Pprof: tt.enabled, Users: users, Logger: quiet}).Handler()
			var hdr []string
			if tt.user != "" {
				hdr = bearer(tokens[tt.user])
			}
			r := do(t, h, http.MethodGet, tt.target, "", hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if !strings.Contains(string(r.body), tt.want) {
				t.Errorf("body lacks %q:\n%.300s", tt.want, r.body)
			}
		})
	}
}

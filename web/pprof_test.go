package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestPprof(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		target  string
		status  int
		want    string // in the body
	}{
		{"off: index", false, "/debug/pprof/", http.StatusNotFound, "no such endpoint"},
		{"off: heap", false, "/debug/pprof/heap", http.StatusNotFound, "no such endpoint"},
		{"on: index", true, "/debug/pprof/", http.StatusOK, "goroutine"},
		{"on: goroutines", true, "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile:"},
		{"on: heap", true, "/debug/pprof/heap?debug=1", http.StatusOK, "heap profile:"},
		{"on: unknown profile", true, "/debug/pprof/nope", http.StatusNotFound, "Unknown profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Config{Pprof: tt.enabled, Logger: quiet}).Handler()
			r := do(t, h, http.MethodGet, tt.target, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if !strings.Contains(string(r.body), tt.want) {
				t.Errorf("body lacks %q:\n%.300s", tt.want, r.body)
			}
		})
	}
}

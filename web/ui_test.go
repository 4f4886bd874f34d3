package web

import (
	"net/http"
	"strings"
	"testing"
)

// The desk and the supervisor view are served from the binary, with a
// policy that keeps them to ivrd's own code.
func TestPages(t *testing.T) {
	h := New(Config{Logger: quiet}).Handler()
	tests := []struct {
		path, contentType string
		contains          []string
	}{
		{"/desk", "text/html; charset=utf-8", []string{`id="btn-accept"`, "Accepter", "Refuser", "Disponible", "Fin de post-traitement", `src="/ui/desk.js"`}},
		{"/supervisor", "text/html; charset=utf-8", []string{`id="queues"`, `id="agents"`, "Niveau de service", `src="/ui/supervisor.js"`}},
		{"/ui/desk.js", "text/javascript; charset=utf-8", []string{"/api/agent/events", "getUserMedia", "RTCPeerConnection"}},
		{"/ui/supervisor.js", "text/javascript; charset=utf-8", []string{"/api/supervisor/events"}},
		{"/ui/common.js", "text/javascript; charset=utf-8", []string{"sessionStorage", "Authorization"}},
		{"/ui/style.css", "text/css; charset=utf-8", []string{":root"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := do(t, h, "GET", tt.path, "")
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if ct := r.header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			csp := r.header.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("policy %q lacks %q", csp, d)
				}
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(r.body), s) {
					t.Errorf("body lacks %q", s)
				}
			}
			// Revalidated, and not sent again when unchanged.
			etag := r.header.Get("ETag")
			if etag == "" || r.header.Get("Cache-Control") != "no-cache" {
				t.Errorf("ETag %q, Cache-Control %q", etag, r.header.Get("Cache-Control"))
			}
			if r := do(t, h, "GET", tt.path, "", "If-None-Match", etag); r.status != http.StatusNotModified {
				t.Errorf("If-None-Match: status %d", r.status)
			}
		})
	}
	for _, p := range []string{"/ui/nope.js", "/ui/", "/ui/../server.go", "/desk/x"} {
		if r := do(t, h, "GET", p, ""); r.status != 404 && r.status/100 != 3 {
			t.Errorf("%s: status %d", p, r.status)
		}
	}
	if r := do(t, h, "POST", "/desk", ""); r.status != 405 {
		t.Errorf("POST /desk: %d", r.status)
	}
}

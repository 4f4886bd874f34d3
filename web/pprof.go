package web

import (
	"net/http"
	"net/http/pprof"
)

// routePprof serves the Go runtime profiles under /debug/pprof/ to admins
// when Config.Pprof is set. They show the heap, goroutines and CPU of a
// running ivrd, and also its internals: serve them on loopback only.
func (s *Server) routePprof() {
	if !s.cfg.Pprof {
		return
	}
	// Registered on the server's own mux, not http.DefaultServeMux, so
	// that importing net/http/pprof exposes nothing unless enabled.
	s.mux.HandleFunc("GET /debug/pprof/", s.adminOnly(pprof.Index))
	s.mux.HandleFunc("GET /debug/pprof/cmdline", s.adminOnly(pprof.Cmdline))
	s.mux.HandleFunc("GET /debug/pprof/profile", s.adminOnly(pprof.Profile))
	s.mux.HandleFunc("GET /debug/pprof/symbol", s.adminOnly(pprof.Symbol))
	s.mux.HandleFunc("POST /debug/pprof/symbol", s.adminOnly(pprof.Symbol))
	s.mux.HandleFunc("GET /debug/pprof/trace", s.adminOnly(pprof.Trace))
}

// adminOnly serves h to admins only.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.authorize(w, r, RoleAdmin); ok {
			h(w, r)
		}
	}
}

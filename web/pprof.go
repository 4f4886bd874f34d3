package web

import (
	"net/http/pprof"
)

// routePprof serves the Go runtime profiles under /debug/pprof/ when
// Config.Pprof is set. They show the heap, goroutines and CPU of a running
// ivrd, and also its internals: serve them on loopback only.
func (s *Server) routePprof() {
	if !s.cfg.Pprof {
		return
	}
	// Registered on the server's own mux, not http.DefaultServeMux, so
	// that importing net/http/pprof exposes nothing unless enabled.
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

package web

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// route serves the request with the mux, but answers unknown paths and
// wrong methods with a JSON error in place of the mux's plain text.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	// A path under /api/recordings is never redirected to its clean form:
	// "..", "." or "//" there go nowhere, and the attempt is audited.
	if uncleanRecordingsPath(r.URL.Path) {
		s.recordingsMiss(w, r, http.StatusNotFound)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// Let the mux decide between 404, 405 (with its Allow header) and a
	// redirect, then replace its body.
	c := &captureWriter{header: http.Header{}}
	s.mux.ServeHTTP(c, r)
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if isRecordingsPath(r.URL.Path) {
		status := http.StatusNotFound
		if c.status == http.StatusMethodNotAllowed {
			status = c.status
			w.Header().Set("Allow", c.header.Get("Allow"))
		}
		s.recordingsMiss(w, r, status)
		return
	}
	for _, k := range []string{"Allow", "Location"} {
		if v := c.header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	msg := http.StatusText(c.status)
	switch c.status {
	case http.StatusNotFound:
		msg = "no such endpoint: " + r.URL.Path
	case http.StatusMethodNotAllowed:
		msg = "method " + r.Method + " not allowed on " + r.URL.Path
	}
	s.writeError(w, r, c.status, msg)
}

// captureWriter records what the mux's fallback handlers write.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}
func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

// statusWriter records the status and size of a response, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs each request once it is served. Health checks, polled
// every few seconds by orchestrators, log at debug level.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := s.levelFor(r, sw.status)
		s.log.Log(r.Context(), level, "http request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", sw.status,
			"bytes", sw.bytes,
			"duration", time.Since(start),
			"remote", r.RemoteAddr,
		)
	})
}

func (s *Server) levelFor(r *http.Request, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case r.URL.Path == "/healthz":
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

// recoverPanics turns a panic in a handler into a 500, so one bad request
// cannot take the API down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path,
				"panic", v, "stack", string(debug.Stack()))
			s.writeError(w, r, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

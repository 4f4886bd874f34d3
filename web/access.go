package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ivrd/ivrd/recordings"
)

// access is one request to a recordings endpoint, and its audit row.
type access struct {
	user  *User
	entry recordings.AuditEntry
}

// begin authenticates a request to a recordings endpoint and checks the
// user's role against roles (any role when empty). When it reports false
// the answer is written and audited: 401 or 403, or 500 when the audit
// row could not be written.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, action string, roles ...Role) (*access, bool) {
	if s.cfg.Recordings == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "recordings not configured")
		return nil, false
	}
	a := &access{
		user: s.auth.authenticate(r),
		entry: recordings.AuditEntry{
			User:   "-",
			Action: action,
			Remote: r.RemoteAddr,
		},
	}
	// What was asked for goes in the row even when it is refused: an id of
	// the right shape, never looked up before the user is known.
	if id := r.PathValue("id"); ValidRecordingID(id) {
		a.entry.RecordingID = id
	}
	if a.user == nil {
		switch s.fails.fail(r.RemoteAddr) {
		case failAudit:
			if s.audit(w, r, a, OutcomeUnauthenticated, "") {
				w.Header().Set("WWW-Authenticate", challenge)
				s.writeError(w, r, http.StatusUnauthorized, "authentication required")
			}
		case failAuditLimit:
			if s.audit(w, r, a, OutcomeUnauthenticated, fmt.Sprintf(
				"rate limited: more than %d failed authentications in %v; the rest of the window is refused with 429 and not audited one by one", failLimit, failWindow)) {
				s.tooMany(w, r)
			}
		default:
			s.tooMany(w, r)
		}
		return nil, false
	}
	a.entry.User, a.entry.Role = a.user.Name, string(a.user.Role)
	if len(roles) > 0 && !slices.Contains(roles, a.user.Role) {
		if s.audit(w, r, a, OutcomeDenied, "role "+string(a.user.Role)) {
			s.writeError(w, r, http.StatusForbidden, fmt.Sprintf("%s: not allowed to role %s", action, a.user.Role))
		}
		return nil, false
	}
	return a, true
}

// tooMany answers a client over the failed-authentication limit.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", strconv.Itoa(int(failWindow/time.Second)))
	s.writeError(w, r, http.StatusTooManyRequests, "too many failed authentications; retry later")
}

// audit writes the request's audit row. When it cannot, it answers 500
// and reports false: nothing is served that is not audited.
func (s *Server) audit(w http.ResponseWriter, r *http.Request, a *access, outcome recordings.Outcome, detail string) bool {
	e := a.entry
	e.Outcome = outcome
	e.Detail = clip(detail, maxAuditDetail)
	// The row is written even when the client went away: the access was
	// attempted all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.Recordings.Audit(ctx, e); err != nil {
		s.log.ErrorContext(r.Context(), "access audit not written; request refused",
			"action", e.Action, "user", e.User, "recording_id", e.RecordingID, "call_id", e.CallID, "err", err)
		s.writeError(w, r, http.StatusInternalServerError, "internal error")
		return false
	}
	return true
}

// reject audits a refused request and answers status with msg. The audit
// row gets detail, or msg when detail is empty.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, a *access, status int, outcome recordings.Outcome, msg, detail string) {
	if detail == "" {
		detail = msg
	}
	if s.audit(w, r, a, outcome, detail) {
		s.writeError(w, r, status, msg)
	}
}

// failed logs err, audits the request as an error and answers 500 without
// the details, which may name files or SQL.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, a *access, err error) {
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
		"user", a.entry.User, "recording_id", a.entry.RecordingID, "call_id", a.entry.CallID, "err", err)
	s.reject(w, r, a, http.StatusInternalServerError, OutcomeError, "internal error", "")
}

// badID audits and answers a request whose id is not a recording id.
func (s *Server) badID(w http.ResponseWriter, r *http.Request, a *access, id string) {
	s.reject(w, r, a, http.StatusNotFound, OutcomeNotFound, "unknown recording",
		fmt.Sprintf("invalid id %q", clip(id, 128)))
}

// clip cuts s to at most n bytes on a rune boundary, and quotes nothing:
// the audit stores text as given, through SQL parameters.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// recordingID reads the {id} of a request, checks its shape and that the
// user may reach it. When it reports false the answer is written and
// audited.
func (s *Server) recordingID(w http.ResponseWriter, r *http.Request, a *access) (string, bool) {
	id := r.PathValue("id")
	if !ValidRecordingID(id) {
		s.badID(w, r, a, id)
		return "", false
	}
	a.entry.RecordingID = id
	if a.user.Role != RoleAgent {
		return id, true
	}
	// An agent reaches only the recordings of calls whose contact it
	// took. An unknown id is denied like another agent's recording, so
	// an agent learns nothing of other calls.
	ok, err := s.cfg.Recordings.AgentMayAccess(r.Context(), a.user.Name, id)
	switch {
	case err != nil:
		s.failed(w, r, a, fmt.Errorf("check agent access: %w", err))
		return "", false
	case !ok:
		s.reject(w, r, a, http.StatusForbidden, OutcomeDenied,
			fmt.Sprintf("recording %q: not a call of yours", id), "not a call of this agent")
		return "", false
	}
	return id, true
}

// lookupFailed answers an error of the store about a recording.
func (s *Server) lookupFailed(w http.ResponseWriter, r *http.Request, a *access, err error) {
	id := a.entry.RecordingID
	switch {
	case errors.Is(err, recordings.ErrNotFound):
		s.reject(w, r, a, http.StatusNotFound, OutcomeNotFound, fmt.Sprintf("recording %q not found", id), "")
	case errors.Is(err, recordings.ErrUnavailable):
		s.reject(w, r, a, http.StatusConflict, OutcomeError, fmt.Sprintf("recording %q has no audio to serve: still being written, or damaged", id), "")
	default:
		s.failed(w, r, a, err)
	}
}

// isRecordingsPath reports whether p is under /api/recordings.
func isRecordingsPath(p string) bool {
	return p == "/api/recordings" || strings.HasPrefix(p, "/api/recordings/")
}

// uncleanRecordingsPath reports a path under /api/recordings that is not
// clean ("..", ".", "//", a trailing slash). The mux would redirect it to
// its clean form, elsewhere; it is refused instead.
func uncleanRecordingsPath(p string) bool {
	return isRecordingsPath(p) && path.Clean(p) != p
}

// recordingsMiss answers, and audits, a request under /api/recordings that
// no endpoint serves: an unclean path, a path with too many segments, or a
// wrong method. Whatever it names never reaches the store.
func (s *Server) recordingsMiss(w http.ResponseWriter, r *http.Request, status int) {
	action := ActionMetadata
	switch {
	case strings.HasSuffix(r.URL.Path, "/audio"):
		action = ActionListen
	case strings.HasSuffix(r.URL.Path, "/hold") && r.Method == http.MethodDelete:
		action = ActionRelease
	case strings.HasSuffix(r.URL.Path, "/hold"):
		action = ActionHold
	case r.URL.Path == "/api/recordings":
		action = ActionSearch
	}
	a, ok := s.begin(w, r, action, staff...)
	if !ok {
		return
	}
	outcome, msg := OutcomeNotFound, "no such endpoint"
	if status == http.StatusMethodNotAllowed {
		outcome, msg = OutcomeError, "method "+r.Method+" not allowed"
	}
	s.reject(w, r, a, status, outcome, msg, fmt.Sprintf("%s %s", r.Method, clip(r.URL.RequestURI(), 256)))
}

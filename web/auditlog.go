package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/ivrd/ivrd/recordings"
)

// auditList is the body of GET /api/audit.
type auditList struct {
	Entries []recordings.AuditEntry `json:"entries"`
	Limit   int                     `json:"limit"`
	Offset  int                     `json:"offset"`
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	a, ok := s.begin(w, r, ActionAuditLog, RoleAdmin)
	if !ok {
		return
	}
	f, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		s.reject(w, r, a, http.StatusBadRequest, OutcomeError, err.Error(), "")
		return
	}
	// The row of this very request is written first, so it shows.
	if !s.audit(w, r, a, OutcomeOK, r.URL.RawQuery) {
		return
	}
	es, err := s.cfg.Recordings.AuditLog(r.Context(), f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if es == nil {
		es = []recordings.AuditEntry{}
	}
	s.writeJSON(w, r, http.StatusOK, auditList{Entries: es, Limit: f.Limit, Offset: f.Offset})
}

// parseAuditFilter reads the query of GET /api/audit.
func parseAuditFilter(q url.Values) (recordings.AuditFilter, error) {
	f := recordings.AuditFilter{
		User:        q.Get("user"),
		RecordingID: q.Get("recording_id"),
		CallID:      q.Get("call_id"),
		Action:      q.Get("action"),
		Outcome:     recordings.Outcome(q.Get("outcome")),
	}
	for k := range q {
		switch k {
		case "user", "recording_id", "call_id", "action", "outcome", "from", "to", "limit", "offset":
		default:
			return f, fmt.Errorf("unknown parameter %q: want user, recording_id, call_id, action, outcome, from, to, limit or offset", k)
		}
	}
	var err error
	if f.From, err = parseTime(q, "from"); err != nil {
		return f, err
	}
	if f.To, err = parseTime(q, "to"); err != nil {
		return f, err
	}
	if f.Limit, f.Offset, err = parsePage(q, recordings.DefaultLimit, recordings.MaxLimit); err != nil {
		return f, err
	}
	return f, nil
}

// purgeList is the body of GET /api/purges.
type purgeList struct {
	Purges []recordings.PurgeEntry `json:"purges"`
	Limit  int                     `json:"limit"`
}

func (s *Server) purgeLog(w http.ResponseWriter, r *http.Request) {
	a, ok := s.begin(w, r, ActionPurgeLog, RoleAdmin)
	if !ok {
		return
	}
	limit, _, err := parsePage(url.Values{"limit": r.URL.Query()["limit"]}, recordings.DefaultLimit, recordings.MaxLimit)
	if err != nil {
		s.reject(w, r, a, http.StatusBadRequest, OutcomeError, err.Error(), "")
		return
	}
	if !s.audit(w, r, a, OutcomeOK, r.URL.RawQuery) {
		return
	}
	ps, err := s.cfg.Recordings.PurgeLog(r.Context(), limit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if ps == nil {
		ps = []recordings.PurgeEntry{}
	}
	s.writeJSON(w, r, http.StatusOK, purgeList{Purges: ps, Limit: limit})
}

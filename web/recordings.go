package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/recordings/audiofile"
)

// RecordingStore is the recordings store as the API reads it
// (recordings.Service).
type RecordingStore interface {
	Search(ctx context.Context, f recordings.Filter) ([]recordings.Recording, error)
	// Get, Open, Hold and Release fail with an error wrapping
	// recordings.ErrNotFound for an unknown id.
	Get(ctx context.Context, id string) (*recordings.Recording, error)
	// Open returns the plain WAV of a recording, decrypted on the fly.
	Open(ctx context.Context, id string) (*audiofile.Reader, *recordings.Recording, error)
	AgentMayAccess(ctx context.Context, agent, id string) (bool, error)
	Consents(ctx context.Context, callID string) ([]ivr.Consent, error)
	Hold(ctx context.Context, id, who, why string) error
	Release(ctx context.Context, id, who string) error
	// Audit writes an audit row durably; it sets At when zero.
	Audit(ctx context.Context, e recordings.AuditEntry) error
	AuditLog(ctx context.Context, f recordings.AuditFilter) ([]recordings.AuditEntry, error)
	PurgeLog(ctx context.Context, limit int) ([]recordings.PurgeEntry, error)
}

// Actions of the access audit.
const (
	ActionSearch   = "search"
	ActionMetadata = "metadata"
	ActionListen   = "listen"
	ActionDownload = "download"
	ActionHold     = "hold"
	ActionRelease  = "release"
	ActionAuditLog = "audit_log"
	ActionPurgeLog = "purge_log"
)

// Outcomes of the access audit.
const (
	OutcomeOK              = recordings.OutcomeOK
	OutcomeDenied          = recordings.OutcomeDenied
	OutcomeUnauthenticated = recordings.OutcomeUnauthenticated
	OutcomeNotFound        = recordings.OutcomeNotFound
	// OutcomeError: the request was malformed, conflicted with the
	// recording's state, or failed in ivrd.
	OutcomeError recordings.Outcome = "error"
)

// Limits of the recordings endpoints.
const (
	// MaxHoldBody is the largest body PUT .../hold accepts.
	MaxHoldBody = 8 << 10
	// MaxHoldReason bounds the reason of a legal hold.
	MaxHoldReason = 1024
	// maxAuditDetail bounds what a request puts in an audit row.
	maxAuditDetail = 512
	// audioWriteTimeout replaces the server's write timeout for audio,
	// which may be long: an hour of stereo audio is 115 MB.
	audioWriteTimeout = 30 * time.Minute
)

// ValidRecordingID reports whether id has the shape of a recording id: a
// UUID in its canonical lowercase form. Anything else (a path, "..", an
// encoded slash) is refused before it reaches the store.
func ValidRecordingID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// recordingList is the body of GET /api/recordings.
type recordingList struct {
	Recordings []recordings.Recording `json:"recordings"`
	Limit      int                    `json:"limit"`
	Offset     int                    `json:"offset"`
}

func (s *Server) searchRecordings(w http.ResponseWriter, r *http.Request) {
	a, ok := s.begin(w, r, ActionSearch, staff...)
	if !ok {
		return
	}
	f, err := parseRecordingFilter(r.URL.Query())
	if err != nil {
		s.reject(w, r, a, http.StatusBadRequest, OutcomeError, err.Error(), "")
		return
	}
	a.entry.CallID = f.CallID
	if a.user.Role == RoleAgent {
		f.Agent = a.user.Name
	}
	recs, err := s.cfg.Recordings.Search(r.Context(), f)
	if err != nil {
		s.failed(w, r, a, err)
		return
	}
	if recs == nil {
		recs = []recordings.Recording{}
	}
	if !s.audit(w, r, a, OutcomeOK, fmt.Sprintf("%s: %d found", r.URL.RawQuery, len(recs))) {
		return
	}
	s.writeJSON(w, r, http.StatusOK, recordingList{Recordings: recs, Limit: f.Limit, Offset: f.Offset})
}

// parseRecordingFilter reads the query of GET /api/recordings.
func parseRecordingFilter(q url.Values) (recordings.Filter, error) {
	f := recordings.Filter{
		CallID: q.Get("call_id"),
		Caller: q.Get("caller"),
	}
	for k := range q {
		switch k {
		case "call_id", "caller", "from", "to", "limit", "offset":
		default:
			return f, fmt.Errorf("unknown parameter %q: want call_id, caller, from, to, limit or offset", k)
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

// parsePage reads limit and offset.
func parsePage(q url.Values, def, max int) (limit, offset int, err error) {
	limit = def
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > max {
			return 0, 0, fmt.Errorf("limit %q: want an integer from 1 to %d", v, max)
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset %q: want an integer from 0", v)
		}
	}
	return limit, offset, nil
}

// consentJSON is a consent as the API shows it.
type consentJSON struct {
	ID          string    `json:"id"`
	CallID      string    `json:"call_id"`
	At          time.Time `json:"at"`
	Choice      string    `json:"choice"`
	Key         string    `json:"key,omitempty"`
	Language    string    `json:"language,omitempty"`
	Flow        string    `json:"flow,omitempty"`
	FlowVersion string    `json:"flow_version,omitempty"`
	Node        string    `json:"node,omitempty"`
	Prompt      string    `json:"prompt,omitempty"`
	Driver      string    `json:"driver,omitempty"`
}

func toConsentJSON(c ivr.Consent) *consentJSON {
	return &consentJSON{
		ID: c.ID, CallID: c.CallID, At: c.At, Choice: string(c.Choice), Key: c.Key,
		Language: c.Language, Flow: c.Flow, FlowVersion: c.FlowVersion, Node: c.Node,
		Prompt: c.Prompt, Driver: c.Driver,
	}
}

// recordingDetail is the body of GET /api/recordings/{id}: the metadata
// and the consent under which it was recorded.
type recordingDetail struct {
	*recordings.Recording
	Consent *consentJSON `json:"consent"`
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request) {
	a, ok := s.begin(w, r, ActionMetadata, staff...)
	if !ok {
		return
	}
	id, ok := s.recordingID(w, r, a)
	if !ok {
		return
	}
	rec, err := s.cfg.Recordings.Get(r.Context(), id)
	if err != nil {
		s.lookupFailed(w, r, a, err)
		return
	}
	a.entry.CallID = rec.CallID
	cs, err := s.cfg.Recordings.Consents(r.Context(), rec.CallID)
	if err != nil {
		s.failed(w, r, a, err)
		return
	}
	d := recordingDetail{Recording: rec}
	for _, c := range cs {
		if c.ID == rec.ConsentID {
			d.Consent = toConsentJSON(c)
		}
	}
	if !s.audit(w, r, a, OutcomeOK, "") {
		return
	}
	s.writeJSON(w, r, http.StatusOK, d)
}

// getAudio serves GET /api/recordings/{id}/audio: the plain WAV, decrypted
// on the fly, with Range support; ?download=1 makes it an attachment.
func (s *Server) getAudio(w http.ResponseWriter, r *http.Request) {
	dl := r.URL.Query().Get("download")
	action := ActionListen
	if dl != "" && dl != "0" {
		action = ActionDownload
	}
	a, ok := s.begin(w, r, action, staff...)
	if !ok {
		return
	}
	if dl != "" && dl != "0" && dl != "1" {
		s.reject(w, r, a, http.StatusBadRequest, OutcomeError, fmt.Sprintf("download %q: want 1 or 0", dl), "")
		return
	}
	id, ok := s.recordingID(w, r, a)
	if !ok {
		return
	}
	audio, rec, err := s.cfg.Recordings.Open(r.Context(), id)
	if err != nil {
		s.lookupFailed(w, r, a, err)
		return
	}
	defer audio.Close()
	a.entry.CallID = rec.CallID
	detail := ""
	if rg := r.Header.Get("Range"); rg != "" {
		detail = "range " + rg
	}
	if !s.audit(w, r, a, OutcomeOK, detail) {
		return
	}
	// A long recording outlasts the server's write timeout. Not every
	// writer has a deadline (tests): nothing to extend then.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(audioWriteTimeout))
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if rec.SHA256 != "" {
		// The checksum of the stored file names this content, for
		// If-Range on a resumed download.
		h.Set("ETag", `"`+rec.SHA256+`"`)
	}
	disposition := "inline"
	if action == ActionDownload {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", fmt.Sprintf(`%s; filename="recording-%s.wav"`, disposition, id))
	http.ServeContent(w, r, "", time.Time{}, audio)
}

// holdRequest is the body of PUT /api/recordings/{id}/hold.
type holdRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) putHold(w http.ResponseWriter, r *http.Request) {
	a, ok := s.begin(w, r, ActionHold, RoleAdmin)
	if !ok {
		return
	}
	id, ok := s.recordingID(w, r, a)
	if !ok {
		return
	}
	var req holdRequest
	if status, err := decodeJSON(w, r, MaxHoldBody, &req); err != nil {
		s.reject(w, r, a, status, OutcomeError, err.Error(), "")
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		s.reject(w, r, a, http.StatusBadRequest, OutcomeError, "missing reason: a legal hold says why", "")
		return
	case len(req.Reason) > MaxHoldReason:
		s.reject(w, r, a, http.StatusBadRequest, OutcomeError, fmt.Sprintf("reason longer than %d bytes", MaxHoldReason), "")
		return
	}
	if err := s.cfg.Recordings.Hold(r.Context(), id, a.user.Name, req.Reason); err != nil {
		s.holdFailed(w, r, a, err)
		return
	}
	s.holdDone(w, r, a, true, req.Reason)
}

func (s *Server) deleteHold(w http.ResponseWriter, r *http.Request) {
	a, ok := s.begin(w, r, ActionRelease, RoleAdmin)
	if !ok {
		return
	}
	id, ok := s.recordingID(w, r, a)
	if !ok {
		return
	}
	if err := s.cfg.Recordings.Release(r.Context(), id, a.user.Name); err != nil {
		s.holdFailed(w, r, a, err)
		return
	}
	s.holdDone(w, r, a, false, "")
}

func (s *Server) holdFailed(w http.ResponseWriter, r *http.Request, a *access, err error) {
	id := a.entry.RecordingID
	switch {
	case errors.Is(err, recordings.ErrHeld):
		s.reject(w, r, a, http.StatusConflict, OutcomeError, fmt.Sprintf("recording %q is already held", id), "")
	case errors.Is(err, recordings.ErrNotHeld):
		s.reject(w, r, a, http.StatusConflict, OutcomeError, fmt.Sprintf("recording %q is not held", id), "")
	default:
		s.lookupFailed(w, r, a, err)
	}
}

func (s *Server) holdDone(w http.ResponseWriter, r *http.Request, a *access, held bool, detail string) {
	rec, err := s.cfg.Recordings.Get(r.Context(), a.entry.RecordingID)
	if err != nil {
		s.lookupFailed(w, r, a, err)
		return
	}
	a.entry.CallID = rec.CallID
	if !s.audit(w, r, a, OutcomeOK, detail) {
		return
	}
	s.writeJSON(w, r, http.StatusOK, rec)
}

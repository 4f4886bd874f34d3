package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// callList is the body of GET /api/calls.
type callList struct {
	Calls  []ivr.CallRecord `json:"calls"`
	Limit  int              `json:"limit"`
	Offset int              `json:"offset"`
}

// listCalls serves GET /api/calls: the call log to supervisors and
// admins, and to an agent the calls it took.
func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authorize(w, r, staff...)
	if !ok {
		return
	}
	if s.cfg.Calls == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "call log not configured")
		return
	}
	f, err := parseCallFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if u.Role == RoleAgent {
		f.Agent = u.Name
	}
	calls, err := s.cfg.Calls.ListCalls(r.Context(), f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if calls == nil {
		calls = []ivr.CallRecord{}
	}
	s.writeJSON(w, r, http.StatusOK, callList{Calls: calls, Limit: f.Limit, Offset: f.Offset})
}

// parseCallFilter reads the query of GET /api/calls.
func parseCallFilter(q url.Values) (store.CallFilter, error) {
	f := store.CallFilter{
		Caller:  q.Get("caller"),
		Outcome: ivr.Outcome(q.Get("outcome")),
		Limit:   store.DefaultLimit,
	}
	var err error
	if f.Since, err = parseTime(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseTime(q, "until"); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > store.MaxLimit {
			return f, fmt.Errorf("limit %q: want an integer from 1 to %d", v, store.MaxLimit)
		}
	}
	if v := q.Get("offset"); v != "" {
		if f.Offset, err = strconv.Atoi(v); err != nil || f.Offset < 0 {
			return f, fmt.Errorf("offset %q: want an integer from 0", v)
		}
	}
	return f, nil
}

// parseTime reads an RFC 3339 time, or a date (midnight UTC).
func parseTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a date (2006-01-02)", name, v)
}

// getCall serves GET /api/calls/{id}: any call to supervisors and admins,
// to an agent only a call it took. An agent asking for another call, known
// or not, is refused alike: it learns nothing of other calls.
func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authorize(w, r, staff...)
	if !ok {
		return
	}
	if s.cfg.Calls == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "call log not configured")
		return
	}
	id := r.PathValue("id")
	c, err := s.cfg.Calls.GetCall(r.Context(), id)
	switch {
	case u.Role == RoleAgent && (errors.Is(err, store.ErrNotFound) || err == nil && c.Agent != u.Name):
		s.writeError(w, r, http.StatusForbidden, fmt.Sprintf("call %q: not a call of yours", id))
	case errors.Is(err, store.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, fmt.Sprintf("call %q not found", id))
	case err != nil:
		s.internalError(w, r, err)
	default:
		s.writeJSON(w, r, http.StatusOK, c)
	}
}

// queueList is the body of GET /api/queues.
type queueList struct {
	Queues []routing.QueueSummary `json:"queues"`
}

// queueSummary serves GET /api/queues to every user, integrations
// included: counts and waits per queue, no contact.
func (s *Server) queueSummary(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorize(w, r); !ok {
		return
	}
	if s.cfg.Queues == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "queues not configured")
		return
	}
	sum, err := s.cfg.Queues.Summary(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if sum == nil {
		sum = []routing.QueueSummary{}
	}
	s.writeJSON(w, r, http.StatusOK, queueList{Queues: sum})
}

// queueContacts is the body of GET /api/queues/{name}.
type queueContacts struct {
	Queue    string                   `json:"queue"`
	Contacts []routing.WaitingContact `json:"contacts"`
}

// listQueue serves GET /api/queues/{name}: who waits, with what the IVR
// learned, to supervisors and admins, and to an agent for a queue it
// serves (routing.agents[].queues; every queue when empty).
func (s *Server) listQueue(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authorize(w, r, staff...)
	if !ok {
		return
	}
	if s.cfg.Queues == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "queues not configured")
		return
	}
	name := r.PathValue("name")
	if !routing.ValidName(name) {
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("queue name %q: want 1 to %d letters, digits, '.', '_' or '-'", name, routing.MaxNameLen))
		return
	}
	if u.Role == RoleAgent && !s.serves(u.Name, name) {
		s.writeError(w, r, http.StatusForbidden, fmt.Sprintf("queue %q: not a queue of yours", name))
		return
	}
	cs, err := s.cfg.Queues.List(r.Context(), name)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if cs == nil {
		cs = []routing.WaitingContact{}
	}
	s.writeJSON(w, r, http.StatusOK, queueContacts{Queue: name, Contacts: cs})
}

// serves reports whether the agent named agent serves queue: it is one of
// routing.agents, with queue among its queues or no queue given. A user
// of role agent that is no agent serves none.
func (s *Server) serves(agent, queue string) bool {
	if s.cfg.Agents == nil {
		return false
	}
	st, err := s.cfg.Agents.Agent(agent)
	if err != nil {
		return false
	}
	return len(st.Queues) == 0 || slices.Contains(st.Queues, queue)
}

// postedContact is the body of a 201 answer to POST /api/contacts.
type postedContact struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
}

// postContact serves POST /api/contacts to integrations (a chat or email
// channel), supervisors and admins.
func (s *Server) postContact(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorize(w, r, posting...); !ok {
		return
	}
	if s.cfg.Queues == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "queues not configured")
		return
	}
	c, status, err := decodeContact(w, r)
	if err != nil {
		s.writeError(w, r, status, err.Error())
		return
	}
	id, err := s.cfg.Queues.Post(r.Context(), c)
	switch {
	case errors.Is(err, routing.ErrInvalidContact):
		s.writeError(w, r, http.StatusBadRequest, err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		w.Header().Set("Location", "/api/queues/"+url.PathEscape(c.Queue))
		s.writeJSON(w, r, http.StatusCreated, postedContact{ID: id, Queue: c.Queue})
	}
}

// flows serves GET /api/flows to supervisors and admins.
func (s *Server) flows(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorize(w, r, supervising...); !ok {
		return
	}
	if s.cfg.Flows == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "flows not configured")
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.cfg.Flows.Status())
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	var body any = map[string]string{"status": "ok"}
	if s.cfg.Health != nil {
		body = s.cfg.Health()
	}
	s.writeJSON(w, r, http.StatusOK, body)
}

package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// MaxConnectBody is the largest body POST /api/contacts/{id}/connect
// accepts.
const MaxConnectBody = 4 << 10

// connectRequest is the optional body of POST /api/contacts/{id}/connect.
type connectRequest struct {
	Agent string `json:"agent"`
}

// connectedContact is the answer to a connect.
type connectedContact struct {
	ID    string `json:"id"`
	Agent string `json:"agent"`
	State string `json:"state"`
}

// connectContact serves POST /api/contacts/{id}/connect: an agent takes a
// waiting contact. An agent connects as itself; an admin or a supervisor
// may name the agent. The agent stored with the contact is what later
// gives it access to the recordings of that call.
func (s *Server) connectContact(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Queues == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "queues not configured")
		return
	}
	u := s.auth.authenticate(r)
	if u == nil {
		w.Header().Set("WWW-Authenticate", challenge)
		s.writeError(w, r, http.StatusUnauthorized, "authentication required")
		return
	}
	var req connectRequest
	if r.ContentLength != 0 {
		if status, err := decodeJSON(w, r, MaxConnectBody, &req); err != nil {
			s.writeError(w, r, status, err.Error())
			return
		}
	}
	agent := u.Name
	if req.Agent != "" && req.Agent != u.Name {
		if u.Role == RoleAgent {
			s.writeError(w, r, http.StatusForbidden, "an agent connects contacts as itself only")
			return
		}
		if !ValidUserName(req.Agent) {
			s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("agent %q: want 1 to %d letters, digits, '.', '_', '-' or '@'", req.Agent, MaxUserName))
			return
		}
		agent = req.Agent
	}
	id := r.PathValue("id")
	err := s.cfg.Queues.Connect(r.Context(), id, agent)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, fmt.Sprintf("contact %q not found", id))
	case errors.Is(err, routing.ErrNotWaiting):
		s.writeError(w, r, http.StatusConflict, fmt.Sprintf("contact %q is no longer waiting", id))
	case errors.Is(err, routing.ErrInvalidContact):
		s.writeError(w, r, http.StatusBadRequest, err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		s.log.InfoContext(r.Context(), "contact connected through the api", "contact_id", id, "agent", agent, "by", u.Name)
		s.writeJSON(w, r, http.StatusOK, connectedContact{ID: id, Agent: agent, State: routing.StateConnected})
	}
}

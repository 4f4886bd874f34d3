package web

import (
	"fmt"
	"net/http"

	"github.com/ivrd/ivrd/routing"
)

// MaxConnectBody is the largest body POST /api/contacts/{id}/connect
// accepts.
const MaxConnectBody = 4 << 10

// connectRequest is the optional body of POST /api/contacts/{id}/connect.
type connectRequest struct {
	Agent string `json:"agent"`
}

// assignedContact is the answer to a connect.
type assignedContact struct {
	ID    string `json:"id"`
	Agent string `json:"agent"`
	State string `json:"state"`
}

// connectContact serves POST /api/contacts/{id}/connect: a waiting contact
// is offered to an agent now, ahead of the queue's order. An agent asks for
// itself; an admin or a supervisor may name the agent (a switchboard, a CTI
// connector). The offer then runs as any other: the agent accepts it on
// its desk or its phone, and the agent who takes the contact is stored with
// it, which later opens that call's recordings to it.
func (s *Server) connectContact(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authorize(w, r, staff...)
	if !ok {
		return
	}
	if s.cfg.Agents == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "agents not configured")
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
		if !mayActFor(u, req.Agent) {
			s.writeError(w, r, http.StatusForbidden, "an agent takes contacts as itself only")
			return
		}
		if !ValidUserName(req.Agent) {
			s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("agent %q: want 1 to %d letters, digits, '.', '_', '-' or '@'", req.Agent, MaxUserName))
			return
		}
		agent = req.Agent
	}
	id := r.PathValue("id")
	if err := s.cfg.Agents.Assign(r.Context(), id, agent); err != nil {
		s.deskError(w, r, err, fmt.Sprintf("contact %q to agent %q", id, agent))
		return
	}
	s.log.InfoContext(r.Context(), "contact offered to an agent through the api", "contact_id", id, "agent", agent, "by", u.Name)
	s.writeJSON(w, r, http.StatusAccepted, assignedContact{ID: id, Agent: agent, State: routing.AgentOffered})
}

package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
)

// Limits of the agent endpoints' bodies. A browser's SDP offer with one
// audio section and its ICE candidates is a few KiB.
const (
	MaxStateBody  = 1 << 10
	MaxAcceptBody = 64 << 10
)

// legHangupTimeout bounds the hang-up of a browser leg the router refused.
const legHangupTimeout = 5 * time.Second

// me is the body of GET /api/me.
type me struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Agent is the user's agent status, when the user is one of
	// routing.agents.
	Agent *routing.AgentStatus `json:"agent"`
}

// getMe serves GET /api/me: who the token belongs to, and its agent
// status if it is an agent. The desk and the supervisor page sign in with
// it.
func (s *Server) getMe(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authorize(w, r)
	if !ok {
		return
	}
	body := me{Name: u.Name, Role: u.Role}
	if s.cfg.Agents != nil {
		if st, err := s.cfg.Agents.Agent(u.Name); err == nil {
			body.Agent = &st
		}
	}
	s.writeJSON(w, r, http.StatusOK, body)
}

// agentDesk authorizes a request of the agent endpoints; the agent is
// always the user itself.
func (s *Server) agentDesk(w http.ResponseWriter, r *http.Request, roles ...Role) (*User, bool) {
	u, ok := s.authorize(w, r, roles...)
	if !ok {
		return nil, false
	}
	if s.cfg.Agents == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "agents not configured")
		return nil, false
	}
	return u, true
}

// getAgent serves GET /api/agent: the user's own agent status.
func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, staff...)
	if !ok {
		return
	}
	st, err := s.cfg.Agents.Agent(u.Name)
	if err != nil {
		s.deskError(w, r, err, "agent "+u.Name)
		return
	}
	s.writeJSON(w, r, http.StatusOK, st)
}

// stateRequest is the body of the state endpoints.
type stateRequest struct {
	State string `json:"state"`
}

// postAgentState serves POST /api/agent/state: the agent sets its own
// state.
func (s *Server) postAgentState(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, staff...)
	if !ok {
		return
	}
	s.setState(w, r, u, u.Name)
}

// postAgentsState serves POST /api/agents/{name}/state: a supervisor sets
// an agent's state.
func (s *Server) postAgentsState(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, supervising...)
	if !ok {
		return
	}
	s.setState(w, r, u, r.PathValue("name"))
}

func (s *Server) setState(w http.ResponseWriter, r *http.Request, u *User, agent string) {
	var req stateRequest
	if status, err := decodeJSON(w, r, MaxStateBody, &req); err != nil {
		s.writeError(w, r, status, err.Error())
		return
	}
	switch req.State {
	case routing.AgentAvailable, routing.AgentAway, routing.AgentSignedOut:
	case "":
		s.writeError(w, r, http.StatusBadRequest, "missing state: want available, away or signed_out")
		return
	default:
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("state %q: want available, away or signed_out", req.State))
		return
	}
	if err := s.cfg.Agents.SetAgentState(r.Context(), agent, req.State); err != nil {
		s.deskError(w, r, err, fmt.Sprintf("agent %q to %s", agent, req.State))
		return
	}
	st, err := s.cfg.Agents.Agent(agent)
	if err != nil {
		s.deskError(w, r, err, "agent "+agent)
		return
	}
	s.log.InfoContext(r.Context(), "agent state set through the api", "agent", agent, "state", req.State, "by", u.Name)
	s.writeJSON(w, r, http.StatusOK, st)
}

// acceptRequest is the optional body of POST /api/agent/offers/{id}/accept.
type acceptRequest struct {
	// SDP is the browser's offer, for a call taken in the desk.
	SDP string `json:"sdp"`
}

// accepted is the answer to an accept.
type accepted struct {
	OfferID string `json:"offer_id"`
	// SDP is ivrd's answer to the browser's offer, for a call taken in the
	// desk.
	SDP string `json:"sdp,omitempty"`
}

// isCall reports whether a contact of this channel is taken as a call: a
// live call, or a callback request (the agent talks to the customer once
// called back).
func isCall(channel string) bool {
	return channel == routing.ChannelVoice || channel == routing.ChannelWebRTC || channel == routing.ChannelCallback
}

// acceptOffer serves POST /api/agent/offers/{id}/accept. An agent taking
// calls in the browser sends its SDP offer with a call's accept: ivrd
// answers it, and the WebRTC leg it makes is what the router bridges to
// the caller. A chat, an email, or a call ringing the agent's phone, is
// accepted without a body.
func (s *Server) acceptOffer(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, staff...)
	if !ok {
		return
	}
	var req acceptRequest
	if r.ContentLength != 0 {
		if status, err := decodeJSON(w, r, MaxAcceptBody, &req); err != nil {
			s.writeError(w, r, status, err.Error())
			return
		}
	}
	id := r.PathValue("id")
	what := fmt.Sprintf("accept offer %q", id)
	var (
		leg    ivr.Leg
		answer string
	)
	if req.SDP != "" {
		var ok bool
		if leg, answer, ok = s.answerBrowser(w, r, u.Name, id, req.SDP); !ok {
			return
		}
	}
	if err := s.cfg.Agents.AcceptOffer(r.Context(), u.Name, id, leg); err != nil {
		if leg != nil {
			// The router did not take the leg: nobody else will end it,
			// even if the browser went away meanwhile.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), legHangupTimeout)
			herr := leg.Hangup(ctx, "offer not accepted")
			cancel()
			if herr != nil {
				s.log.WarnContext(r.Context(), "hang up browser leg", "agent", u.Name, "offer_id", id, "err", herr)
			}
		}
		s.deskError(w, r, err, what)
		return
	}
	s.log.InfoContext(r.Context(), "offer accepted", "agent", u.Name, "offer_id", id, "browser", leg != nil)
	s.writeJSON(w, r, http.StatusOK, accepted{OfferID: id, SDP: answer})
}

// answerBrowser answers the SDP offer of a browser agent accepting a call.
// When it reports false the answer is written.
func (s *Server) answerBrowser(w http.ResponseWriter, r *http.Request, agent, offerID, sdp string) (ivr.Leg, string, bool) {
	if s.cfg.WebRTC == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "webrtc is disabled (webrtc.enabled): calls cannot be taken in the browser; enable it, or give the agent a phone in routing.agents")
		return nil, "", false
	}
	st, err := s.cfg.Agents.Agent(agent)
	if err != nil {
		s.deskError(w, r, err, "agent "+agent)
		return nil, "", false
	}
	o := st.Offer
	switch {
	case o == nil || o.ID != offerID:
		s.deskError(w, r, routing.ErrNoOffer, fmt.Sprintf("accept offer %q", offerID))
		return nil, "", false
	case !isCall(o.Contact.Channel):
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("offer %q is a %s contact: accept it without sdp", offerID, o.Contact.Channel))
		return nil, "", false
	case o.Phone || !st.Browser:
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("offer %q rings your phone: answer it there", offerID))
		return nil, "", false
	}
	log := s.log.With("agent", agent, "offer_id", offerID, "contact_id", o.Contact.ID, "call_id", o.Contact.CallID)
	leg, answer, err := s.cfg.WebRTC.Answer(r.Context(), sdp, log)
	if err != nil {
		log.WarnContext(r.Context(), "browser offer refused", "err", err)
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("sdp offer refused: %v", err))
		return nil, "", false
	}
	return leg, answer, true
}

// rejected is the answer to a reject.
type rejected struct {
	OfferID string `json:"offer_id"`
	State   string `json:"state"`
}

// rejectOffer serves POST /api/agent/offers/{id}/reject: the agent turns
// an offer down; the contact is offered to the next agent.
func (s *Server) rejectOffer(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, staff...)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := s.cfg.Agents.RejectOffer(r.Context(), u.Name, id); err != nil {
		s.deskError(w, r, err, fmt.Sprintf("reject offer %q", id))
		return
	}
	s.log.InfoContext(r.Context(), "offer rejected", "agent", u.Name, "offer_id", id)
	s.writeJSON(w, r, http.StatusOK, rejected{OfferID: id, State: "rejected"})
}

// hungUp is the answer to a hang-up.
type hungUp struct {
	ContactID string `json:"contact_id"`
	State     string `json:"state"`
}

// hangUp serves POST /api/agent/contacts/{id}/hangup: the agent ends a
// conversation.
func (s *Server) hangUp(w http.ResponseWriter, r *http.Request) {
	u, ok := s.agentDesk(w, r, staff...)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := s.cfg.Agents.HangUp(r.Context(), u.Name, id); err != nil {
		s.deskError(w, r, err, fmt.Sprintf("hang up contact %q", id))
		return
	}
	s.log.InfoContext(r.Context(), "conversation ended by the agent", "agent", u.Name, "contact_id", id)
	s.writeJSON(w, r, http.StatusOK, hungUp{ContactID: id, State: "ended"})
}

// agentList is the body of GET /api/agents.
type agentList struct {
	Agents []routing.AgentStatus `json:"agents"`
}

// listAgents serves GET /api/agents to supervisors.
func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.agentDesk(w, r, supervising...); !ok {
		return
	}
	agents := s.cfg.Agents.Agents()
	if agents == nil {
		agents = []routing.AgentStatus{}
	}
	s.writeJSON(w, r, http.StatusOK, agentList{Agents: agents})
}

// getBoard serves GET /api/board to supervisors: the queues with their
// waiting contacts in order, and the agents.
func (s *Server) getBoard(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.agentDesk(w, r, supervising...); !ok {
		return
	}
	b, err := s.cfg.Agents.Board(r.Context())
	if err != nil {
		s.internalError(w, r, fmt.Errorf("read board: %w", err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, b)
}

// getStats serves GET /api/stats to supervisors: service level, abandon
// rate and speed of answer per queue and interval.
func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.agentDesk(w, r, supervising...); !ok {
		return
	}
	st, err := s.stats(r.Context())
	if err != nil {
		s.internalError(w, r, fmt.Errorf("read stats: %w", err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, st)
}

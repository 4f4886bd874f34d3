package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// AgentDesk is the routing of contacts to agents as the desk, the
// supervisors and the metrics see it (routing.Queues).
type AgentDesk interface {
	// Agents lists every configured agent, by name.
	Agents() []routing.AgentStatus
	// Agent fails with routing.ErrUnknownAgent for a name that is not in
	// routing.agents.
	Agent(name string) (routing.AgentStatus, error)
	// SetAgentState sets available, away or signed_out; it fails with
	// routing.ErrAgentState when the state forbids it.
	SetAgentState(ctx context.Context, name, state string) error
	// Subscribe delivers the agent's events, its current state first,
	// until the returned func is called.
	Subscribe(name string) (<-chan routing.AgentEvent, func(), error)
	// AcceptOffer takes an offer; leg is the agent's audio for a call taken
	// in the browser, nil otherwise.
	AcceptOffer(ctx context.Context, agent, offerID string, leg ivr.Leg) error
	RejectOffer(ctx context.Context, agent, offerID string) error
	// HangUp ends the agent's conversation with a contact.
	HangUp(ctx context.Context, agent, contactID string) error
	// Assign offers a waiting contact to this agent now.
	Assign(ctx context.Context, contactID, agent string) error
	Board(ctx context.Context) (routing.Board, error)
	// Watch signals, coalesced, that the board changed, until the returned
	// func is called.
	Watch() (<-chan struct{}, func())
	Stats(ctx context.Context) (routing.Stats, error)
}

// WebRTC answers a browser's SDP offer with a leg of ivrd's and the SDP
// answer, for agents who take calls in the desk.
type WebRTC interface {
	// Answer returns the leg and the complete SDP answer (no trickle ICE).
	Answer(ctx context.Context, offer string, log *slog.Logger) (ivr.Leg, string, error)
}

// legAnswerer is what WebRTCFrom adapts: a WebRTC endpoint whose Answer
// returns its own leg type (*media.WebRTC returns *media.WebRTCLeg).
type legAnswerer[L ivr.Leg] interface {
	Answer(ctx context.Context, offer string, log *slog.Logger) (L, string, error)
}

// WebRTCFrom adapts a WebRTC endpoint returning its own leg type, such as
// *media.WebRTC, to WebRTC: web.WebRTCFrom(rtc).
func WebRTCFrom[L ivr.Leg](a legAnswerer[L]) WebRTC {
	return answerer[L]{a}
}

type answerer[L ivr.Leg] struct{ a legAnswerer[L] }

func (w answerer[L]) Answer(ctx context.Context, offer string, log *slog.Logger) (ivr.Leg, string, error) {
	leg, sdp, err := w.a.Answer(ctx, offer, log)
	if err != nil {
		// A failed answer's leg is a typed nil: it must not reach the
		// router as a non-nil ivr.Leg.
		return nil, "", err
	}
	return leg, sdp, nil
}

// deskError answers an error of the AgentDesk with the status that fits,
// or 500 for a failure of ivrd's.
func (s *Server) deskError(w http.ResponseWriter, r *http.Request, err error, what string) {
	status := 0
	switch {
	case errors.Is(err, routing.ErrUnknownAgent), errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, routing.ErrNoOffer), errors.Is(err, routing.ErrNoConversation),
		errors.Is(err, routing.ErrAgentState), errors.Is(err, routing.ErrNotWaiting),
		errors.Is(err, routing.ErrNotQualified), errors.Is(err, routing.ErrCallbackState):
		status = http.StatusConflict
	case errors.Is(err, routing.ErrLegRequired), errors.Is(err, routing.ErrInvalidContact):
		status = http.StatusBadRequest
	}
	if status == 0 {
		s.internalError(w, r, err)
		return
	}
	s.writeError(w, r, status, fmt.Sprintf("%s: %s", what, deskReason(err)))
}

// deskReason says, for the client, why the router refused.
func deskReason(err error) string {
	switch {
	case errors.Is(err, routing.ErrUnknownAgent):
		return "unknown agent (not in routing.agents)"
	case errors.Is(err, store.ErrNotFound):
		return "not found"
	case errors.Is(err, routing.ErrNoOffer):
		return "no such offer: withdrawn, taken, timed out, or not yours"
	case errors.Is(err, routing.ErrNoConversation):
		return "no such conversation"
	case errors.Is(err, routing.ErrNotWaiting):
		return "the contact is no longer waiting"
	case errors.Is(err, routing.ErrLegRequired):
		return "a call taken in the browser needs its SDP offer: {\"sdp\": \"...\"}"
	}
	// ErrAgentState, ErrNotQualified, ErrInvalidContact carry their details.
	return err.Error()
}

var _ AgentDesk = (*routing.Queues)(nil)

package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/store"
)

// CallbackDesk is the callback requests as supervisors see them
// (routing.Queues).
type CallbackDesk interface {
	ListCallbacks(ctx context.Context, f routing.CallbackFilter) ([]routing.CallbackRecord, error)
	// Callback fails with an error wrapping store.ErrNotFound for an
	// unknown id.
	Callback(ctx context.Context, id string) (routing.CallbackRecord, error)
	// CancelCallback fails with store.ErrNotFound for an unknown id and
	// routing.ErrCallbackState for a request already over.
	CancelCallback(ctx context.Context, id, reason string) error
}

var _ CallbackDesk = (*routing.Queues)(nil)

// callbacks is the CallbackDesk: Config.Callbacks, else Config.Agents when
// it is one (routing.Queues is both), else nil.
func (s *Server) callbacks() CallbackDesk {
	if s.cfg.Callbacks != nil {
		return s.cfg.Callbacks
	}
	if cb, ok := s.cfg.Agents.(CallbackDesk); ok {
		return cb
	}
	return nil
}

// callbackList is the body of GET /api/callbacks.
type callbackList struct {
	Callbacks []routing.CallbackRecord `json:"callbacks"`
}

// listCallbacks serves GET /api/callbacks?state=&queue=&limit= to
// supervisors: the callback requests, newest first, with their attempts.
func (s *Server) listCallbacks(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authorize(w, r, supervising...); !ok {
		return
	}
	cbs := s.callbacks()
	if cbs == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "callbacks not configured")
		return
	}
	q := r.URL.Query()
	f := routing.CallbackFilter{State: q.Get("state"), Queue: q.Get("queue")}
	if f.State != "" && !routing.ValidCallbackState(f.State) {
		s.writeError(w, r, http.StatusBadRequest,
			fmt.Sprintf("state %q: want pending, active, completed, failed or cancelled", f.State))
		return
	}
	if f.Queue != "" && !routing.ValidName(f.Queue) {
		s.writeError(w, r, http.StatusBadRequest,
			fmt.Sprintf("queue %q: want 1 to %d letters, digits, '.', '_' or '-'", f.Queue, routing.MaxNameLen))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > routing.MaxCallbackList {
			s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1 to %d", v, routing.MaxCallbackList))
			return
		}
		f.Limit = n
	}
	list, err := cbs.ListCallbacks(r.Context(), f)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("list callbacks: %w", err))
		return
	}
	if list == nil {
		list = []routing.CallbackRecord{}
	}
	s.writeJSON(w, r, http.StatusOK, callbackList{Callbacks: list})
}

// cancelCallback serves DELETE /api/callbacks/{id} to supervisors: a
// pending request is cancelled (200, state cancelled); one whose attempt is
// in progress keeps it, and no other follows (202, state active, with the
// cancel_reason).
func (s *Server) cancelCallback(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authorize(w, r, supervising...)
	if !ok {
		return
	}
	cbs := s.callbacks()
	if cbs == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "callbacks not configured")
		return
	}
	id := r.PathValue("id")
	what := fmt.Sprintf("cancel callback %q", id)
	if err := cbs.CancelCallback(r.Context(), id, "cancelled by "+u.Name); err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.writeError(w, r, http.StatusNotFound, what+": not found")
		case errors.Is(err, routing.ErrCallbackState):
			s.writeError(w, r, http.StatusConflict, fmt.Sprintf("%s: %v", what, err))
		case errors.Is(err, routing.ErrInvalidContact):
			s.writeError(w, r, http.StatusNotFound, what+": not a callback request")
		default:
			s.internalError(w, r, err)
		}
		return
	}
	rec, err := cbs.Callback(r.Context(), id)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("read callback %s: %w", id, err))
		return
	}
	s.log.InfoContext(r.Context(), "callback cancelled through the api", "contact_id", id, "by", u.Name, "state", rec.State)
	status := http.StatusOK
	if rec.State != ivr.CallbackCancelled {
		status = http.StatusAccepted
	}
	s.writeJSON(w, r, status, rec)
}

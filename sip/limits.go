package sip

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

var (
	errDuplicate = errors.New("a call with this Call-ID is in progress")
	errFull      = errors.New("at the call limit")
)

// atMaxCalls reports whether the server holds MaxCalls calls already: a
// cheap check before a new call's work; addCall checks again under s.mu.
func (s *Server) atMaxCalls() bool {
	return s.cfg.MaxCalls > 0 && s.ActiveCalls() >= s.cfg.MaxCalls
}

// refuseFull answers an INVITE beyond MaxCalls: 503 with Retry-After. The
// first refusal is logged, and the next once a call was taken again.
func (s *Server) refuseFull(req *sipmsg.Request, tx *trackedTx) {
	if !s.full.Swap(true) {
		s.log.Warn("call limit reached: refusing new calls with 503", "max_calls", s.cfg.MaxCalls)
	}
	s.respond(req, tx, sipmsg.StatusServiceUnavailable, "Service Unavailable", s.retryAfter())
}

// admitFlood counts an initial INVITE against its source's flood limit. It
// reports whether the INVITE may go on; else it has dealt with it: 503
// with Retry-After for the INVITE that starts a ban and, during the ban,
// for INVITEs over TCP, which cannot come from a forged address and whose
// sender would otherwise wait 32 s; INVITEs over UDP are dropped unanswered
// (most never get this far: readFilter drops them unparsed), so that a
// forged source gets nothing back.
func (s *Server) admitFlood(req *sipmsg.Request, tx *trackedTx) bool {
	if s.flood == nil {
		return true
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return true
	}
	ban, started := s.flood.allow(src.Addr(), time.Now())
	if ban == 0 {
		return true
	}
	if started || sipmsg.IsReliable(req.Transport()) {
		secs := int(math.Ceil(ban.Seconds()))
		s.respond(req, tx, sipmsg.StatusServiceUnavailable, "Service Unavailable",
			sipmsg.NewHeader("Retry-After", strconv.Itoa(secs)))
	}
	return false
}

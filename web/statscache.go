package web

import (
	"context"
	"sync"
	"time"

	"github.com/ivrd/ivrd/routing"
)

// statsTTL is how long the service figures are reused: /metrics, /api/stats
// and every supervisor's stream would otherwise each run the same SQL
// aggregates, as often as anyone asks.
const statsTTL = time.Second

// statsCache keeps the last service figures for statsTTL.
type statsCache struct {
	mu  sync.Mutex
	at  time.Time
	val routing.Stats
}

// stats returns the service figures, computed at most once per statsTTL.
func (s *Server) stats(ctx context.Context) (routing.Stats, error) {
	c := &s.statsCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < statsTTL {
		return c.val, nil
	}
	st, err := s.cfg.Agents.Stats(ctx)
	if err != nil {
		return routing.Stats{}, err
	}
	c.at, c.val = time.Now(), st
	return st, nil
}

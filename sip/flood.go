package sip

import (
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"
)

// maxFloodSources bounds the sources the flood guard tracks at once. A
// flood from ever new (spoofed) addresses is no flood from one address;
// past this many, new sources go untracked (MaxCalls still bounds what
// they can take).
const maxFloodSources = 1 << 16

// floodGuard limits the new INVITEs each source address may send with a
// token bucket: Burst at once, then Rate a second. A source that finds its
// bucket empty is banned for Ban: the INVITE that tripped the limit gets
// 503 with Retry-After, and the source's INVITEs are refused until the
// ban ends (UDP ones dropped before they are parsed). Each ban is logged
// once, as it starts. A nil guard limits nothing.
type floodGuard struct {
	rate   float64
	burst  float64
	ban    time.Duration
	exempt []netip.Prefix
	log    *slog.Logger

	mu      sync.Mutex
	sources map[netip.Addr]*floodSource
	sweepAt int
}

type floodSource struct {
	tokens      float64
	last        time.Time // when tokens was last computed
	bannedUntil time.Time
}

// newFloodGuard returns the guard of a limit with defaults applied, or nil
// when the limit is off.
func newFloodGuard(l FloodLimit, log *slog.Logger) *floodGuard {
	if l.Rate < 0 {
		return nil
	}
	return &floodGuard{
		rate:    l.Rate,
		burst:   float64(l.Burst),
		ban:     l.Ban,
		exempt:  l.Exempt,
		log:     log,
		sources: make(map[netip.Addr]*floodSource),
		sweepAt: 1024,
	}
}

func (g *floodGuard) exempted(addr netip.Addr) bool {
	for _, p := range g.exempt {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// allow counts a new INVITE from addr. It returns 0 when the INVITE may go
// on; else how long the source stays banned, and whether this INVITE is
// the one that started the ban.
func (g *floodGuard) allow(addr netip.Addr, now time.Time) (banned time.Duration, started bool) {
	if g == nil || !addr.IsValid() {
		return 0, false
	}
	addr = addr.Unmap()
	if g.exempted(addr) {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.sources[addr]
	if src == nil {
		if len(g.sources) >= g.sweepAt {
			g.sweep(now)
		}
		if len(g.sources) >= maxFloodSources {
			return 0, false
		}
		src = &floodSource{tokens: g.burst, last: now}
		g.sources[addr] = src
	}
	if now.Before(src.bannedUntil) {
		return src.bannedUntil.Sub(now), false
	}
	if elapsed := now.Sub(src.last).Seconds(); elapsed > 0 {
		src.tokens = math.Min(g.burst, src.tokens+elapsed*g.rate)
		src.last = now
	}
	if src.tokens >= 1 {
		src.tokens--
		return 0, false
	}
	// The bucket is full again when the ban ends.
	src.bannedUntil = now.Add(g.ban)
	src.tokens = g.burst
	src.last = src.bannedUntil
	g.log.Warn("INVITE flood: source banned", "source", addr.String(), "ban", g.ban,
		"burst", int(g.burst), "rate_per_s", g.rate)
	return g.ban, true
}

// banned reports whether addr is banned at now, without counting anything.
func (g *floodGuard) banned(addr netip.Addr, now time.Time) bool {
	if g == nil || !addr.IsValid() {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.sources[addr.Unmap()]
	return src != nil && now.Before(src.bannedUntil)
}

// sweep forgets the sources that are not banned and whose bucket is full
// again: they are as good as new. Called with g.mu held.
func (g *floodGuard) sweep(now time.Time) {
	for addr, src := range g.sources {
		if now.Before(src.bannedUntil) {
			continue
		}
		if src.tokens+now.Sub(src.last).Seconds()*g.rate >= g.burst {
			delete(g.sources, addr)
		}
	}
	g.sweepAt = max(1024, 2*len(g.sources))
}

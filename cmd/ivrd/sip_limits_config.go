package main

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/ivrd/ivrd/sip"
)

// SIPFloodConfig limits the new INVITEs each source address may send; see
// sip.FloodLimit. Unlike the driver's, its zero values are values: rate 0
// turns the limit off.
type SIPFloodConfig struct {
	// Rate is how many new INVITEs a second a source may send once its
	// burst is spent; 0 turns the limit off.
	Rate float64 `mapstructure:"rate"`
	// Burst is how many it may send at once.
	Burst int `mapstructure:"burst"`
	// Ban is how long a source over the limit is refused.
	Ban time.Duration `mapstructure:"ban"`
	// Exempt are the addresses (192.0.2.10) and prefixes (10.0.0.0/8)
	// never limited: the trunk, SBC or PBX every call comes through.
	Exempt []string `mapstructure:"exempt"`

	exempt []netip.Prefix
}

// validateLimits checks sip.max_calls and sip.flood.
func (s *SIPConfig) validateLimits() error {
	if s.MaxCalls < 0 {
		return bad("sip.max_calls", "%d: must not be negative (0 means no limit)", s.MaxCalls)
	}
	f := &s.Flood
	switch {
	case math.IsNaN(f.Rate) || math.IsInf(f.Rate, 0) || f.Rate < 0:
		return bad("sip.flood.rate", "%v: want INVITEs a second, 0 or more (0 turns the limit off)", f.Rate)
	case f.Rate == 0:
		return nil
	case f.Burst < 1:
		return bad("sip.flood.burst", "%d: a source must be allowed at least 1 INVITE (sip.flood.rate: 0 turns the limit off)", f.Burst)
	}
	f.exempt = f.exempt[:0]
	for i, e := range f.Exempt {
		p, err := parsePrefix(e)
		if err != nil {
			return bad("sip.flood.exempt", "entry %d, %q, is not an IP address nor a prefix like 10.0.0.0/8", i, e)
		}
		f.exempt = append(f.exempt, p)
	}
	if err := f.limit().Validate(); err != nil {
		return bad("sip.flood", "%v", err)
	}
	return nil
}

// parsePrefix reads a prefix (10.0.0.0/8) or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// maxCalls is the driver's Config.MaxCalls: 0, no limit, is negative there.
func (s SIPConfig) maxCalls() int {
	if s.MaxCalls == 0 {
		return -1
	}
	return s.MaxCalls
}

// limit is the driver's Config.Flood: rate 0, off, is negative there.
func (f SIPFloodConfig) limit() sip.FloodLimit {
	if f.Rate == 0 {
		return sip.FloodLimit{Rate: -1}
	}
	return sip.FloodLimit{Rate: f.Rate, Burst: f.Burst, Ban: f.Ban, Exempt: f.exempt}
}

package main

import (
	"time"

	"github.com/ivrd/ivrd/store"
)

// CallsConfig says how long the call log, the queues' contacts and the
// callback requests are kept.
type CallsConfig struct {
	// Retention is "180d" (days) or a Go duration, counted from the end
	// of a call, of a contact, of a callback request.
	Retention     string        `mapstructure:"retention"`
	PurgeInterval time.Duration `mapstructure:"purge_interval"`

	retention time.Duration
}

// maxCallPurgeInterval bounds calls.purge_interval.
const maxCallPurgeInterval = 24 * time.Hour

func (c *CallsConfig) validate() error {
	d, err := parseRetention(c.Retention)
	if err != nil {
		return bad("calls.retention", "%v", err)
	}
	if d < store.MinCallRetention {
		return bad("calls.retention", "%s is under %d days: today's statistics, the queues' summary and the callbacks' daily limit read the last day's contacts", c.Retention, store.MinCallRetention/(24*time.Hour))
	}
	c.retention = d
	switch {
	case c.PurgeInterval <= 0:
		return bad("calls.purge_interval", "must be positive: expired call records must be purged")
	case c.PurgeInterval > maxCallPurgeInterval:
		return bad("calls.purge_interval", "%v is over %v: expired call records would wait too long", c.PurgeInterval, maxCallPurgeInterval)
	}
	return nil
}

package ivrtest

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/ivrd/ivrd/ivr"
)

// MemCallLog is an ivr.CallLog in memory that keeps every save.
type MemCallLog struct {
	mu    sync.Mutex
	saves []ivr.CallRecord
}

var _ ivr.CallLog = (*MemCallLog)(nil)

// SaveCall implements ivr.CallLog; it stores a deep copy of r.
func (l *MemCallLog) SaveCall(_ context.Context, r *ivr.CallRecord) error {
	c := *r
	c.Visits = slices.Clone(r.Visits)
	c.Vars = maps.Clone(r.Vars)
	if r.EndedAt != nil {
		t := *r.EndedAt
		c.EndedAt = &t
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.saves = append(l.saves, c)
	return nil
}

// Saves returns every record saved, in order.
func (l *MemCallLog) Saves() []ivr.CallRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.saves)
}

// Last returns the last record saved for call id.
func (l *MemCallLog) Last(id string) (ivr.CallRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.saves) - 1; i >= 0; i-- {
		if l.saves[i].ID == id {
			return l.saves[i], true
		}
	}
	return ivr.CallRecord{}, false
}

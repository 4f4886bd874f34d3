package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/ivrd/ivrd/ivr"
)

// lateOriginator is the engine's Originator before the drivers exist: the
// engine is built first (the drivers hand it their calls), and callbacks
// due at start wait here until the driver that places them is up.
type lateOriginator struct {
	once  sync.Once
	ready chan struct{}
	o     ivr.Originator // nil: no driver places callbacks
	name  string
}

func newLateOriginator() *lateOriginator { return &lateOriginator{ready: make(chan struct{})} }

// set gives the driver (nil for none); only the first call counts.
func (l *lateOriginator) set(o ivr.Originator, name string) {
	l.once.Do(func() {
		l.o, l.name = o, name
		close(l.ready)
	})
}

func (l *lateOriginator) get(ctx context.Context) (ivr.Originator, error) {
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-l.ready:
	}
	if l.o == nil {
		return nil, fmt.Errorf("no driver places callbacks (set sip.trunk or ari.callback_endpoint): %w", ivr.ErrNoCallbacks)
	}
	return l.o, nil
}

// Originate implements ivr.Originator.
func (l *lateOriginator) Originate(ctx context.Context, r ivr.OriginateRequest, serve func(context.Context, ivr.Call)) error {
	o, err := l.get(ctx)
	if err != nil {
		return err
	}
	return o.Originate(ctx, r, serve)
}

// Dial implements ivr.Originator.
func (l *lateOriginator) Dial(ctx context.Context, r ivr.DialRequest) (ivr.Ringing, error) {
	o, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return o.Dial(ctx, r)
}

// flowsUseCallbacks reports whether a loaded flow has a callback node.
func flowsUseCallbacks(f ivr.Flows) bool {
	set := f.Current()
	if set == nil {
		return false
	}
	for _, fl := range set.Flows {
		for _, n := range fl.Nodes {
			if n.Kind == ivr.KindCallback {
				return true
			}
		}
	}
	return false
}

// sipTrunkSet reports whether customers can be called through a SIP trunk.
func sipTrunkSet(cfg *Config) bool { return cfg.SIP.Enabled && cfg.SIP.Trunk.Address != "" }

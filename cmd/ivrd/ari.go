package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/ivrd/ivrd/asterisk"
	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// newARIDriver returns the Asterisk driver serving its calls with engine.
func newARIDriver(cfg ARIConfig, ep *media.Endpoint, engine *ivr.Engine, log *slog.Logger) (*asterisk.Driver, error) {
	handoff := make(map[string]asterisk.HandoffConfig, len(cfg.Handoff))
	for q, h := range cfg.Handoff {
		handoff[q] = asterisk.HandoffConfig{
			Mode:      asterisk.HandoffMode(h.Mode),
			Context:   h.Context,
			Extension: h.Extension,
			Priority:  h.Priority,
		}
	}
	return asterisk.New(asterisk.Config{
		URL:           cfg.URL,
		WSURL:         cfg.WSURL,
		User:          cfg.User,
		Password:      cfg.Password,
		App:           cfg.App,
		PromptBaseURL: cfg.PromptBaseURL,
		Handoff:       handoff,
		MOHClass:      cfg.MOHClass,
		AnnounceEvery: cfg.HoldAnnounce,
		AgentEndpoint: cfg.AgentEndpoint,
		Media:         ep,
		MediaAddr:     cfg.mediaAddr,
		// Customers called back (ivr.Originator).
		CallbackEndpoint:    cfg.CallbackEndpoint,
		CallbackCallerID:    cfg.callbackCallerID,
		CallbackRingTimeout: cfg.CallbackRingTimeout,
		Backoff:             asterisk.Backoff{Min: cfg.ReconnectMin, Max: cfg.ReconnectMax},
		Logger:              log,
		Handler: func(ctx context.Context, call ivr.Call) {
			_ = engine.Serve(ctx, call, "ari")
		},
	})
}

// promptIndex finds the file of a prompt by its content id in the flows
// served now or just before the last reload, so that a call still running
// on the previous flows can fetch its prompts. It implements
// web.PromptSource.
type promptIndex struct {
	flows ivr.Flows

	mu        sync.Mutex
	set       *ivr.FlowSet
	cur, prev map[string]string
}

func (p *promptIndex) PromptPath(id string) (string, bool) {
	set := p.flows.Current()
	p.mu.Lock()
	defer p.mu.Unlock()
	if set != p.set {
		p.set, p.prev, p.cur = set, p.cur, promptPaths(set)
	}
	if path, ok := p.cur[id]; ok {
		return path, true
	}
	path, ok := p.prev[id]
	return path, ok
}

// promptPaths maps the id of every file prompt of the set, vocabulary
// included, to its file.
func promptPaths(set *ivr.FlowSet) map[string]string {
	out := map[string]string{}
	if set == nil {
		return out
	}
	add := func(p ivr.Prompt) {
		for _, part := range p {
			if a := part.Audio; a != nil && a.Path != "" && a.ID != "" {
				out[a.ID] = a.Path
			}
		}
	}
	for _, f := range set.Flows {
		for _, a := range f.Vocabulary {
			if a.Path != "" && a.ID != "" {
				out[a.ID] = a.Path
			}
		}
		for _, n := range f.Nodes {
			for _, p := range n.Prompts() {
				add(p)
			}
		}
	}
	return out
}

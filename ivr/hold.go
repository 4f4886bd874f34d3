package ivr

import "context"

// Holder is an optional interface of a Call whose driver can keep a queued
// caller on hold by its own means, such as an Asterisk holding bridge with
// music on hold, rather than have the engine loop the hold prompt with
// Play.
//
// When a call waiting in the engine's Queue implements Holder, the engine
// calls Hold once, then waits for an agent, max_wait or the end of the call
// as usual, still reading the caller's keys (they are buffered as
// type-ahead for the node that follows), and calls stop when the wait
// ends. If Hold fails, the engine falls back to playing the hold prompt.
type Holder interface {
	// Hold puts the caller on hold until stop is called. prompt returns the
	// queue node's hold prompt resolved as it stands when called (it may
	// say the caller's position and wait): the driver calls it each time it
	// announces, for instance between periods of music on hold, or holds
	// with music of its own instead. prompt must be called from the
	// goroutine that calls Hold, before Hold returns, or from whatever
	// goroutine while the engine waits; it never blocks for long.
	// stop must take the caller off hold before it returns, so that the
	// call can play prompts again, and must do so even once the call's
	// context is done. On error, the driver has released whatever it set
	// up.
	Hold(ctx context.Context, prompt func() []Audio) (stop func(), err error)
}

package ivrtest

import (
	"context"
	"slices"
	"sync"

	"github.com/ivrd/ivrd/ivr"
)

// TransferCall is a RecordableCall whose driver takes the queues in
// External outside ivrd (ivr.Transferer) and which stays up after it left,
// until End (ivr.Lingerer), as a call continued in Asterisk's dialplan.
//
// Set External and TransferErr before the call is served.
type TransferCall struct {
	*RecordableCall
	// External holds the queues the driver takes; the others are left to
	// the engine's queue.
	External map[string]bool
	// TransferErr, when set, is returned by TransferToQueue.
	TransferErr error

	tmu      sync.Mutex
	contacts []ivr.Contact
	gone     chan struct{}
	goneOnce sync.Once
}

var (
	_ ivr.Transferer = (*TransferCall)(nil)
	_ ivr.Lingerer   = (*TransferCall)(nil)
)

// NewTransferCall returns a call from caller to dialled whose driver takes
// the queues external.
func NewTransferCall(clock *Clock, id, caller, dialled string, external ...string) *TransferCall {
	c := &TransferCall{
		RecordableCall: NewRecordableCall(clock, id, caller, dialled),
		External:       map[string]bool{},
		gone:           make(chan struct{}),
	}
	for _, q := range external {
		c.External[q] = true
	}
	return c
}

// TransferToQueue implements ivr.Transferer.
func (c *TransferCall) TransferToQueue(_ context.Context, ct ivr.Contact) (bool, error) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.contacts = append(c.contacts, ct)
	if c.TransferErr != nil {
		return false, c.TransferErr
	}
	return c.External[ct.Queue], nil
}

// Transfers returns the contacts offered to TransferToQueue, in order.
func (c *TransferCall) Transfers() []ivr.Contact {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return slices.Clone(c.contacts)
}

// Gone implements ivr.Lingerer: closed by End.
func (c *TransferCall) Gone() <-chan struct{} { return c.gone }

// End ends the call where the driver took it: Gone is closed.
func (c *TransferCall) End() { c.goneOnce.Do(func() { close(c.gone) }) }

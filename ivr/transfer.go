package ivr

import "context"

// Transferer is an optional interface of a Call whose driver can hand a
// queued call to a queue outside ivrd, such as Asterisk's own Queue() in
// the dialplan.
//
// When a call reaching a queue node implements Transferer, the engine calls
// TransferToQueue with the contact it would have put in its own queue (ID
// set to the call's id). If the driver reports handled, the call has left
// ivrd: the engine records the outcome queued with the queue's name and
// ends the session without hanging up. If not handled, the call waits in
// the engine's Queue as usual, so a driver can transfer some queues and
// keep others.
type Transferer interface {
	// TransferToQueue hands the call and its context to the external
	// queue named in c.Queue. handled is false when the driver leaves this
	// queue to the engine. An error ends the call as a failure.
	TransferToQueue(ctx context.Context, c Contact) (handled bool, err error)
}

package ivr

import "errors"

// Causes a driver gives when it cancels a call's context, and errors of the engine.
var (
	// ErrCallerHangup: the caller hung up (BYE, CANCEL, ARI hangup).
	ErrCallerHangup = errors.New("caller hung up")
	// ErrMediaTimeout: no RTP arrived from the caller for the media timeout.
	ErrMediaTimeout = errors.New("media timeout")
	// ErrShutdown: ivrd is stopping and the drain time ran out.
	ErrShutdown = errors.New("server shutting down")
	// ErrNoFlow: no flow answers the dialled number and there is no default.
	ErrNoFlow = errors.New("no flow for dialled number")
	// ErrUnknownNode: a node refers to a node that does not exist (a bug the
	// validator should have caught).
	ErrUnknownNode = errors.New("unknown node")
	// ErrLoop: the engine visited too many nodes without waiting for the
	// caller, which means a loop with no input in it.
	ErrLoop = errors.New("too many steps without caller input")
	// ErrUnknownCalendar: a condition names a calendar the flow does not have.
	ErrUnknownCalendar = errors.New("unknown calendar")
	// ErrNoQueue: a flow reached a queue node but the engine has no Queue.
	ErrNoQueue = errors.New("no queue configured")
)

package asterisk

import "errors"

var (
	// ErrUnauthorized: Asterisk refused the ARI user or password (401).
	ErrUnauthorized = errors.New("ari credentials refused")
	// ErrNotFound: the channel, playback or application does not exist (404).
	ErrNotFound = errors.New("ari resource not found")
	// ErrAppNotRegistered: the Stasis application is not registered after
	// the websocket connected.
	ErrAppNotRegistered = errors.New("ari application not registered")
	// ErrConflict: the request does not fit the resource's state (409), e.g.
	// a channel not in the Stasis application.
	ErrConflict = errors.New("ari resource in wrong state")
	// ErrOnHold: Hold was called on a call already on hold.
	ErrOnHold = errors.New("call already on hold")
	// ErrHungUp is the cause of a call's context once ivrd hung up.
	ErrHungUp = errors.New("call hung up by ivrd")
	// ErrTransferred is the cause of a call's context once it left the
	// application for the dialplan.
	ErrTransferred = errors.New("call continued in the dialplan")
	// ErrAgentCancelled is why an agent's phone did not take a call that
	// ivrd cancelled while it rang (Ringing.Err).
	ErrAgentCancelled = errors.New("agent's phone cancelled by ivrd")
	// ErrNotAnswered: Bridge was given an agent's leg that has not answered.
	ErrNotAnswered = errors.New("agent's phone has not answered")
	// ErrBadNumber: Originate was asked to call a number that is not digits
	// with an optional leading +; nothing was sent to Asterisk.
	ErrBadNumber = errors.New("not a number to call")
	// ErrBadRecording: a recording Asterisk stored is not the 8 kHz mono
	// 16-bit PCM WAV file the driver asked for.
	ErrBadRecording = errors.New("recording file unreadable")
)

package sip

import "errors"

var (
	// ErrNoCommonCodec: the offer has no audio format the driver can
	// send and receive (PCMU or PCMA at 8 kHz). Answered 488.
	ErrNoCommonCodec = errors.New("no common audio codec")
	// ErrNoAudio: the SDP has no usable audio stream (no m=audio, port 0,
	// no connection address). Answered 488.
	ErrNoAudio = errors.New("no audio stream")
	// ErrBadSDP: the SDP could not be parsed.
	ErrBadSDP = errors.New("malformed SDP")
	// ErrUnsupportedInfo: an INFO body the driver does not understand.
	ErrUnsupportedInfo = errors.New("unsupported INFO body")
	// ErrBadDTMF: a DTMF INFO body without a valid key.
	ErrBadDTMF = errors.New("bad DTMF body")
	// ErrHungUp is the cause of a call's context when ivrd itself ended the
	// call (Call.Hangup or the handler returned).
	ErrHungUp = errors.New("call hung up by ivrd")
	// ErrNoAck: no ACK arrived for the 200 OK within 64*T1.
	ErrNoAck = errors.New("no ACK for 200 OK")
	// ErrServerClosed is returned by ListenAndServe after Close.
	ErrServerClosed = errors.New("sip server closed")
	// ErrBadPhone: an agent's phone is not a sip: or sips: URI the driver
	// can dial (Dial fails at once).
	ErrBadPhone = errors.New("bad agent phone URI")
	// ErrNoListener: the agent's phone is to be dialled over a transport
	// ivrd does not listen on, so its requests could not come back.
	ErrNoListener = errors.New("no listener for the transport")
	// ErrAgentAuth: the agent's phone challenged ivrd and no credentials
	// are configured, or it refused them.
	ErrAgentAuth = errors.New("agent phone authentication failed")
	// ErrNotAnswered: Bridge was given an agent leg that never answered.
	ErrNotAnswered = errors.New("agent leg not answered")
	// ErrLegEnded is the cause of an agent leg's end when the driver
	// needs one of its own.
	ErrLegEnded = errors.New("agent leg ended")
	// ErrBadNumber: Originate was given a number that is not digits with
	// an optional leading +; nothing was sent.
	ErrBadNumber = errors.New("bad number to call")
	// ErrTrunkAuth: the trunk challenged ivrd's INVITE and no credentials
	// are configured, or it refused them.
	ErrTrunkAuth = errors.New("trunk authentication failed")
)

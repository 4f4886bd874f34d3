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
)

package media

import "errors"

var (
	// ErrMediaTimeout ends a session when no RTP arrived from the peer for
	// EndpointConfig.MediaTimeout.
	ErrMediaTimeout = errors.New("media timeout")
	// ErrClosed is returned by a session or endpoint that was closed.
	ErrClosed = errors.New("media session closed")
	// ErrUnsupportedWAV is wrapped by ReadWAV for a valid WAV file in a
	// format ivrd does not play (the message names the format).
	ErrUnsupportedWAV = errors.New("unsupported wav format")
	// ErrInvalidWAV is wrapped by ReadWAV for a file that is not a well-formed WAV.
	ErrInvalidWAV = errors.New("invalid wav file")
	// ErrUnsupportedCodec is returned by Session.Start for a codec other than G.711.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrNoPort is returned by Endpoint.NewSession when every port of the range is taken.
	ErrNoPort = errors.New("no free rtp port")
	// ErrShortPacket is returned by ParseRTP for a buffer shorter than its header says.
	ErrShortPacket = errors.New("rtp packet too short")
	// ErrRTPVersion is returned by ParseRTP for a packet whose version is not 2.
	ErrRTPVersion = errors.New("rtp version is not 2")
	// ErrRecording is returned by Session.Record while the session is
	// already recording.
	ErrRecording = errors.New("session already recording")
	// ErrNotStarted is returned by Session.Record and Bridge before
	// Session.Start.
	ErrNotStarted = errors.New("media session not started")
	// ErrBridged is returned by Bridge for a port already in a relay.
	ErrBridged = errors.New("port already bridged")
	// ErrSamePort is returned by Bridge for a port bridged to itself.
	ErrSamePort = errors.New("port bridged to itself")
	// ErrNoPacer is returned by Bridge for two ports neither of which is a
	// Session: a relay's audio goes out on a session's pacer.
	ErrNoPacer = errors.New("no session to pace the relay")
)

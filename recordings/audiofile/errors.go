package audiofile

import "errors"

var (
	// ErrUnrepairable is wrapped by Repair for a leftover that is too short
	// or in neither format (or, encrypted, whose header chunk does not
	// authenticate): the caller quarantines or flags it.
	ErrUnrepairable = errors.New("recording file cannot be repaired")
	// ErrNoKey is returned for an encrypted file when no key was given.
	ErrNoKey = errors.New("recording is encrypted and no key was given")
	// ErrAuth is returned when an encrypted file fails authentication: it was
	// tampered with, truncated, or the key is not the one it was written with.
	ErrAuth = errors.New("recording failed authentication")
	// ErrBadKey is returned for a key that is not 32 bytes (AES-256).
	ErrBadKey = errors.New("recording key must be 32 bytes")
	// ErrFormat is returned by Open for a file that is neither a recording
	// WAV nor the encrypted container.
	ErrFormat = errors.New("not a recording file")
	// ErrClosed is returned by a Writer used after Close or Abort.
	ErrClosed = errors.New("recording file closed")
	// ErrUnevenFrames is returned by WriteFrames when the two channels do not
	// hold the same number of samples.
	ErrUnevenFrames = errors.New("channels differ in length")
	// ErrTooLong is returned by WriteFrames when the audio would no longer
	// fit in a WAV file (4 GiB, about 37 hours).
	ErrTooLong = errors.New("recording too long for a wav file")
)

package recordings

import (
	"errors"
	"fmt"

	"github.com/ivrd/ivrd/store"
)

var (
	// ErrNotFound: no recording has the requested id. It wraps
	// store.ErrNotFound.
	ErrNotFound = fmt.Errorf("recording %w", store.ErrNotFound)
	// ErrNoConsent: a recording was asked for a call without an accepted
	// consent, or whose caller refused. A refusal is absolute.
	ErrNoConsent = errors.New("no accepted recording consent for the call")
	// ErrRetentionTooLong: the configured retention is over the legal
	// maximum.
	ErrRetentionTooLong = errors.New("recordings may be kept no more than 6 months " +
		"(CNIL deliberation 2014-474 on the recording of calls at work; at most 181 days)")
	// ErrHeld: the recording is already under a legal hold.
	ErrHeld = errors.New("recording is under a legal hold")
	// ErrNotHeld: Release of a recording that has no legal hold.
	ErrNotHeld = errors.New("recording has no legal hold")
	// ErrUnavailable: the recording has no audio to serve: it is still
	// being written, or it was found damaged after a crash.
	ErrUnavailable = errors.New("recording audio unavailable")
	// ErrClosed: a recording file used after Close or Abort.
	ErrClosed = errors.New("recording closed")
	// ErrInvalid: an argument is missing or malformed.
	ErrInvalid = errors.New("invalid argument")
)

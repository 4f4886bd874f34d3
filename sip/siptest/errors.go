package siptest

import (
	"errors"
	"fmt"
)

var (
	// ErrBadDigit is returned by SendDTMF for a key RFC 4733 has no event for.
	ErrBadDigit = errors.New("siptest: no telephone-event for digit")
	// ErrNoAudio is returned by Invite when the answer has no usable audio address.
	ErrNoAudio = errors.New("siptest: no audio address in answer")
)

// StatusError is a final response other than 2xx to a request of the caller.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("siptest: %s: %d %s", e.Method, e.Code, e.Reason)
}

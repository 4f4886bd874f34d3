package routing

import "errors"

var (
	// ErrInvalidContact: a contact is missing its queue or has a bad field.
	ErrInvalidContact = errors.New("invalid contact")
	// ErrNotWaiting: the contact already left the queue (connected,
	// abandoned, timed out or closed).
	ErrNotWaiting = errors.New("contact is not waiting")
)

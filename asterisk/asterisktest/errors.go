package asterisktest

import "errors"

var (
	// ErrNoRepo is returned when the repository holding scripts/asterisk.sh
	// cannot be found from the package's source or the working directory.
	ErrNoRepo = errors.New("asterisktest: repository root not found")
	// ErrExited is returned when Asterisk exits before it is ready.
	ErrExited = errors.New("asterisktest: asterisk exited")
	// ErrPortTaken is returned when Asterisk could not bind a port chosen
	// for it; Start then retries on other ports.
	ErrPortTaken = errors.New("asterisktest: port taken")
	// ErrUnauthorized is returned when ARI refuses the test credentials.
	ErrUnauthorized = errors.New("asterisktest: ARI refused the test credentials")
)

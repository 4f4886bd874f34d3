package loader

import "errors"

// ErrInvalid is returned (wrapped) by Load when the flows have errors; the
// diagnostics say which.
var ErrInvalid = errors.New("invalid flows")

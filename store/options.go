package store

import (
	"fmt"
	"strings"
	"time"
)

// Option configures Open.
type Option func(*options) error

type options struct {
	synchronous string
	busyTimeout time.Duration
	readers     int
}

func defaultOptions() options {
	return options{
		// NORMAL is durable across application crashes in WAL mode; only an
		// OS crash or power loss can drop the last commits, which for a call
		// log is the right trade for not syncing on every write.
		synchronous: "NORMAL",
		busyTimeout: 5 * time.Second,
		readers:     4,
	}
}

// WithSynchronous sets PRAGMA synchronous: "OFF", "NORMAL" (the default),
// "FULL" or "EXTRA".
func WithSynchronous(mode string) Option {
	return func(o *options) error {
		m := strings.ToUpper(mode)
		switch m {
		case "OFF", "NORMAL", "FULL", "EXTRA":
			o.synchronous = m
			return nil
		}
		return fmt.Errorf("invalid synchronous mode %q", mode)
	}
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process before failing with SQLITE_BUSY (default 5s).
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("invalid busy timeout %v", d)
		}
		o.busyTimeout = d
		return nil
	}
}

// WithReaders sets the size of the read connection pool (default 4).
func WithReaders(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("invalid reader pool size %d", n)
		}
		o.readers = n
		return nil
	}
}

package asterisktest

import "time"

// Options tune one test Asterisk. The zero value is ready to use.
type Options struct {
	// App is the Stasis application the dialplan sends calls to.
	// Default "ivrd".
	App string
	// User and Password are the ARI credentials. Default "ivrd" and a
	// random password.
	User     string
	Password string
	// Dialplan is appended to extensions.conf: extra contexts a test needs.
	Dialplan string
	// Files adds or replaces configuration files by name (for example
	// "queues.conf"); they are written after the templates.
	Files map[string]string
	// Verbose is Asterisk's verbosity in its log. Default 3, which logs
	// every dialplan step.
	Verbose int
	// StartTimeout bounds preparing the root and booting Asterisk.
	// Default 3 minutes when the root must still be built, else 30 seconds.
	StartTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.App == "" {
		o.App = "ivrd"
	}
	if o.User == "" {
		o.User = "ivrd"
	}
	if o.Password == "" {
		o.Password = randomHex(12)
	}
	if o.Verbose == 0 {
		o.Verbose = 3
	}
	return o
}

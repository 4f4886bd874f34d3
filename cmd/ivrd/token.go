package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/ivrd/ivrd/web"
)

// cmdToken makes a token for a user of the HTTP API. The token is printed
// once and kept nowhere: the configuration holds only its SHA-256.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("token", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ivrd token NAME ROLE   (ROLE: admin, supervisor, agent or integration)")
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("want NAME and ROLE, got %d argument(s)", fs.NArg())}
	}
	name, role := fs.Arg(0), web.Role(fs.Arg(1))
	token, hash := web.NewToken()
	if err := web.ValidateUsers([]web.User{{Name: name, Role: role, TokenSHA256: hash}}); err != nil {
		ue, _ := err.(*web.UserError)
		if ue != nil {
			err = fmt.Errorf("%s: %s", ue.Field, ue.Reason)
		}
		return &exitError{code: 2, err: err}
	}
	fmt.Fprintf(stdout, "# token of %s (%s): give it to them; it is shown only this once\n%s\n", name, role, token)
	fmt.Fprintf(stdout, "# add under http.users in the configuration:\n  - {name: %s, role: %s, token_sha256: %s}\n", name, role, hash)
	return nil
}

// Command ivrd is an IVR server: it answers calls over SIP, runs the menus
// that admins write as YAML flows, and hands qualified calls to the shared
// routing queue.
//
// Usage:
//
//	ivrd [serve] [flags]            run the server (default)
//	ivrd validate [--flows DIR]     check the flows, print errors and warnings
//	ivrd simulate FLOW [--dtmf KEYS] run a flow in the terminal
//	ivrd purge [--dry-run]          delete the expired recordings and call records now
//	ivrd token NAME ROLE            make a token for a user of the HTTP API
//	ivrd version                    print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `ivrd: IVR server

Usage:
  ivrd [serve] [flags]              run the server (default)
  ivrd validate [flags]             check the flows; exit 1 on errors
  ivrd simulate FLOW [--dtmf KEYS]  run a flow in the terminal (no phone needed)
  ivrd purge [--dry-run]            delete the expired recordings and call records now (or list them)
  ivrd token NAME ROLE              make a token for a user of the HTTP API
  ivrd version                      print the version

Run "ivrd COMMAND --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stderr)
	case "validate":
		err = cmdValidate(ctx, args, stdout, stderr)
	case "simulate":
		err = cmdSimulate(ctx, args, stdin, stdout, stderr)
	case "purge":
		err = cmdPurge(ctx, args, stdout, stderr)
	case "token":
		err = cmdToken(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "ivrd: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "ivrd %s: %v\n", cmd, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "ivrd %s: %v\n", cmd, err)
	return 1
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return fmt.Sprintf("ivrd %s %s", v, bi.GoVersion)
	}
	return "ivrd " + v
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
)

func cmdSimulate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("simulate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	addConfigFlags(fs)
	dtmf := fs.String("dtmf", "", "keys the caller presses, in order (e.g. \"1#\"); without it, keys are read from the terminal")
	at := fs.String("at", "", "time the call is placed, for business hours: RFC 3339 (2026-12-24T19:30:00+01:00) or local \"2006-01-02 15:04\" (default: now)")
	caller := fs.String("caller", "0612345678", "calling number")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ivrd simulate FLOW [--dtmf KEYS] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("want exactly one FLOW name, got %d", fs.NArg())}
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	set, diags, err := loadFlows(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
		return err
	}
	start := time.Now()
	if *at != "" {
		if start, err = parseAt(*at); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	interactive := !fs.Changed("dtmf")
	return runSimulate(ctx, set, fs.Arg(0), *dtmf, interactive, stdin, stdout, simAt(start), simCaller(*caller))
}

func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 or \"2006-01-02 15:04\"", s)
	}
	return t, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

func cmdSimulate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("simulate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	addConfigFlags(fs)
	dtmf := fs.String("dtmf", "", "keys the caller presses, in order (e.g. \"1#\"); without it, keys are read from the terminal")
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
	interactive := !fs.Changed("dtmf")
	return runSimulate(ctx, set, fs.Arg(0), *dtmf, interactive, stdin, stdout)
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/loader"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/tts"
)

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("validate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	set, diags, err := loadFlows(ctx, cfg, slog.New(slog.DiscardHandler))
	for _, d := range diags {
		fmt.Fprintln(stdout, d.String())
	}
	if err != nil {
		nerr := 0
		for _, d := range diags {
			if d.Severity == ivr.SeverityError {
				nerr++
			}
		}
		if nerr == 0 {
			return &exitError{code: 1, err: err}
		}
		return &exitError{code: 1, err: fmt.Errorf("%d error(s) in %s", nerr, cfg.Flows.Dir)}
	}
	fmt.Fprintf(stdout, "%s: %d flow(s) OK, %d warning(s)\n", cfg.Flows.Dir, len(set.Flows), len(set.Warnings))
	return nil
}

// loadFlows loads the flows folder once with the configured TTS.
func loadFlows(ctx context.Context, cfg *Config, logger *slog.Logger) (*ivr.FlowSet, []ivr.Diagnostic, error) {
	set, diags, err := loader.Load(ctx, flowOptions(cfg, logger))
	if err != nil && len(diags) == 0 && !errors.Is(err, context.Canceled) {
		return nil, nil, fmt.Errorf("load flows %s: %w", cfg.Flows.Dir, err)
	}
	return set, diags, err
}

func flowOptions(cfg *Config, logger *slog.Logger) loader.Options {
	return loader.Options{
		Dir: cfg.Flows.Dir,
		TTS: &tts.Espeak{
			Bin:      cfg.TTS.Binary,
			CacheDir: cfg.TTS.CacheDir,
			Voice:    cfg.TTS.Voices,
		},
		CheckAudio: func(b []byte) error {
			_, err := media.ReadWAV(bytes.NewReader(b))
			return err
		},
		Logger: logger,
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/store"
)

// cmdPurge runs the retention purges once, as the server does hourly, and
// prints what went (or, with --dry-run, what would go): the expired
// recordings first, then the call records, contacts and callback requests
// past calls.retention, those of the calls whose recordings just went
// included.
func cmdPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("purge", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	addConfigFlags(fs)
	dryRun := fs.Bool("dry-run", false, "list the expired recordings and count the expired call records without deleting anything")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ivrd purge [--dry-run] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log := newLogger(cfg.Log, stderr)
	db, err := store.Open(ctx, cfg.Database.Path)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := newRecordings(db, cfg, log)
	if err != nil {
		return err
	}
	rep, err := svc.Purge(ctx, *dryRun)
	printPurge(stdout, rep)
	if err != nil {
		return fmt.Errorf("purge recordings: %w", err)
	}
	calls, err := newCallPurger(db, cfg, log)
	if err != nil {
		return err
	}
	crep, err := calls.Purge(ctx, *dryRun)
	printCallPurge(stdout, crep)
	if err != nil {
		return err
	}
	return nil
}

// newCallPurger is the purger of the call log and the queues' contacts.
func newCallPurger(db *store.DB, cfg *Config, log *slog.Logger) (*store.Purger, error) {
	p, err := store.NewPurger(db, store.PurgerConfig{
		Retention: cfg.Calls.retention,
		Logger:    log.With("component", "calls"),
	})
	if err != nil {
		return nil, fmt.Errorf("calls.retention: %w", err)
	}
	return p, nil
}

// printCallPurge writes what the call records' purge deleted, or would.
func printCallPurge(w io.Writer, rep store.PurgeReport) {
	verb := "deleted"
	if rep.DryRun {
		verb = "would be deleted (dry run: nothing was)"
	}
	fmt.Fprintf(w, "ended before %s: %d call record(s), %d contact(s), %d callback request(s) with %d attempt(s), %d callback offer(s), %s\n",
		rep.Before.UTC().Format(time.RFC3339), rep.Calls, rep.Contacts, rep.Callbacks, rep.CallbackAttempts, rep.CallbackOffers, verb)
}

// newRecordings opens the recordings service of the configuration.
func newRecordings(db *store.DB, cfg *Config, log *slog.Logger) (*recordings.Service, error) {
	svc, err := recordings.New(db, recordings.Config{
		Dir:       cfg.Recordings.Dir,
		Retention: cfg.Recordings.retention,
		Key:       cfg.Recordings.key,
		Logger:    log.With("component", "recordings"),
	})
	if err != nil {
		return nil, fmt.Errorf("open recordings %s: %w", cfg.Recordings.Dir, err)
	}
	return svc, nil
}

// printPurge writes one line per recording purged (or to purge), the
// quarantined leftovers, then a summary.
func printPurge(w io.Writer, rep recordings.PurgeReport) {
	if len(rep.Items) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCALL\tSTARTED\tEXPIRES_AT\tSIZE")
		for _, it := range rep.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", it.ID, it.CallID,
				it.StartedAt.UTC().Format(time.RFC3339), it.ExpiresAt.UTC().Format(time.RFC3339), it.Size)
		}
		tw.Flush()
	}
	for _, q := range rep.Quarantine {
		fmt.Fprintf(w, "quarantined leftover past retention: %s\n", q)
	}
	verb := "deleted"
	if rep.DryRun {
		verb = "would be deleted (dry run: nothing was)"
	}
	fmt.Fprintf(w, "%d expired recording(s), %d bytes, %s\n", len(rep.Items), rep.Bytes, verb)
}

package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
)

// cmdCompare prints measurements of the same plateau side by side, e.g.
// calls alone and calls while a purge runs (scripts/purge-load.sh).
func cmdCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	files := fs.String("files", "", "comma-separated label=plateau.json pairs")
	fs.Parse(args)
	if *files == "" {
		return fmt.Errorf("compare: -files is required")
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\tcalls held\tivrd CPU\tintervals\tp50\tp99\tp99.9\tmax\t>2 ms\tloss\tpacer late p50/p99\tpacer busy p99/max\tskipped\t")
	for _, pair := range strings.Split(*files, ",") {
		label, path, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("compare: %q is not label=file", pair)
		}
		var p plateau
		if err := readJSON(path, &p); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%.0f (min %d)\t%.0f%%\t%d\t%.3f ms\t%.3f ms\t%.2f ms\t%.2f ms\t%.2f%%\t%.2f%%\t%.2f/%.2f ms\t%.1f/%.1f ms\t%d\t\n",
			label, p.ActiveMean, p.ActiveMin, 100*p.CPUIvrd, p.Samples,
			p.P50US/1000, p.P99US/1000, p.P999US/1000, p.MaxUS/1000, p.Over2msPct, lossPct(p),
			p.PacerLate50/1000, p.PacerLate99/1000, p.PacerBusy99/1000, p.PacerBusyMx/1000, p.PacerSkip)
		for _, e := range dedupe(p.Errors) {
			defer fmt.Printf("  %s: %s\n", label, e)
		}
	}
	return tw.Flush()
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
)

// Targets of the bridged-call run (the agents issue).
const (
	targetBridged       = 500   // calls bridged to agents' phones at once
	targetRelayP99US    = 2000. // |Δ - 20 ms| p99 of the relayed streams, as received
	targetCPUPerPacketS = 60e-6 // ivrd's CPU per relayed packet
)

// bridgePlateau gathers the files of one plateau of the bridged-call run.
type bridgePlateau struct {
	Calls         int
	NoCap, Cap    bridgeWindow
	Relay         relayResult
	Callers       sippResult
	Agents        sippResult
	CaptureDrops  int64 // packets the kernel dropped from the capture; -1: unknown
	CaptureFilter int64 // packets the capture's filter received
	Errors        []string
}

// cpuPerPacket is ivrd's CPU time per packet relayed: over the capture
// window itself, and over the window without capture at the packet rate
// the capture measured (the plateau's rate does not change between them).
func (p *bridgePlateau) cpuPerPacket() (withCapture, without float64) {
	if p.Relay.Relayed == 0 || p.Cap.WindowS == 0 {
		return 0, 0
	}
	withCapture = p.Cap.CPUSecs["ivrd"] / float64(p.Relay.Relayed)
	if p.NoCap.WindowS > 0 {
		rate := float64(p.Relay.Relayed) / p.Cap.WindowS
		without = p.NoCap.CPUSecs["ivrd"] / (rate * p.NoCap.WindowS)
	}
	return withCapture, without
}

// others is the CPU every process but the run's used in the window.
func (w *bridgeWindow) others() float64 {
	o := w.CPUMachine
	for _, c := range w.CPU {
		o -= c
	}
	return max(o, 0)
}

func (p *bridgePlateau) bridged() int {
	return min(p.NoCap.BusyStart, p.NoCap.BusyEnd, p.Cap.BusyStart, p.Cap.BusyEnd)
}

func (p *bridgePlateau) failed() int { return p.Callers.Failed + p.Agents.Failed }

var dropsRe = regexp.MustCompile(`(\d+) packets? dropped by kernel`)
var filterRe = regexp.MustCompile(`(\d+) packets? received by filter`)

// readCaptureLog reads tcpdump's closing counts.
func readCaptureLog(path string) (drops, filtered int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, -1
	}
	drops, filtered = -1, -1
	if m := dropsRe.FindSubmatch(b); m != nil {
		drops, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := filterRe.FindSubmatch(b); m != nil {
		filtered, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	return drops, filtered
}

func readBridgePlateau(dir string, n int) (bridgePlateau, error) {
	p := bridgePlateau{Calls: n}
	file := func(f string) string { return filepath.Join(dir, fmt.Sprintf(f, n)) }
	if err := readJSON(file("nocap-%d.json"), &p.NoCap); err != nil {
		return p, err
	}
	if err := readJSON(file("cap-%d.json"), &p.Cap); err != nil {
		return p, err
	}
	if err := readJSON(file("relay-%d.json"), &p.Relay); err != nil {
		return p, err
	}
	p.Callers = p.sippTotals(file("sipp-callers-%d-*.csv"))
	p.Agents = p.sippTotals(file("sipp-agents-%d-*.csv"))
	p.CaptureDrops, p.CaptureFilter = readCaptureLog(file("rtp-%d.log"))
	p.Errors = append(p.Errors, p.NoCap.Errors...)
	p.Errors = append(p.Errors, p.Cap.Errors...)
	return p, nil
}

// sippTotals adds up the calls of the sipp processes whose statistics
// files match pattern; unknown if any is missing or unreadable.
func (p *bridgePlateau) sippTotals(pattern string) sippResult {
	files, _ := filepath.Glob(pattern)
	total := sippResult{Known: len(files) > 0}
	for _, f := range files {
		r, err := readSippStats(f)
		if err != nil {
			p.Errors = append(p.Errors, err.Error())
			total.Known = false
			continue
		}
		total.Successful += r.Successful
		total.Failed += r.Failed
	}
	if len(files) == 0 {
		p.Errors = append(p.Errors, "no sipp statistics "+filepath.Base(pattern))
	}
	return total
}

func cmdBridgeReport(args []string) error {
	fs := flag.NewFlagSet("bridge-report", flag.ExitOnError)
	dir := fs.String("dir", ".", "run folder (idle.json, nocap-N.json, cap-N.json, relay-N.json, sipp-*-N-*.csv)")
	fs.Parse(args)
	var idle idleSnapshot
	if err := readJSON(filepath.Join(*dir, "idle.json"), &idle); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(*dir, "relay-*.json"))
	var rows []bridgePlateau
	for _, f := range files {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(f), "relay-%d.json", &n); err != nil {
			continue
		}
		p, err := readBridgePlateau(*dir, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadprobe: bridge-report:", err)
			continue
		}
		rows = append(rows, p)
	}
	if len(rows) == 0 {
		return errors.New("bridge-report: no plateau measured")
	}
	slices.SortFunc(rows, func(a, b bridgePlateau) int { return a.Calls - b.Calls })
	writeBridgeReport(os.Stdout, idle, rows)
	return nil
}

func writeBridgeReport(w io.Writer, idle idleSnapshot, rows []bridgePlateau) {
	fmt.Fprintf(w, "ivrd bridged-call run: %d CPUs; ivrd, the sipps (callers, agents' phones) and tcpdump share them, all on loopback.\n", runtime.NumCPU())
	fmt.Fprintf(w, "Each call: a sipp caller bridged by ivrd to a sipp agent's phone, 20 ms PCMU both ways; ivrd relays 100 packets/s per call.\n")
	fmt.Fprintf(w, "Idle ivrd: RSS %d KB, %d goroutines, %d threads.\n\n", idle.RSSKB, idle.Goroutines, idle.Threads)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\tbridged (min)\tcallers ok/fail\tagents ok/fail\tivrd CPU\tcallers CPU\tagents CPU\ttcpdump CPU\tothers\tivrd run-queue wait\trelayed/s\tCPU/relayed pkt\tno capture\tRSS/call\tgoroutines/call\t")
	for _, p := range rows {
		with, without := p.cpuPerPacket()
		calls := max(float64(p.bridged()), 1)
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.0f%%\t%.0f%%\t%.0f%%\t%.0f%%\t%.0f%%\t%.1f s/CPU s\t%.0f\t%.1f µs\t%.1f µs\t%.1f KB\t%.2f\t\n",
			p.Calls, p.bridged(), sippCounts(p.Callers), sippCounts(p.Agents),
			100*p.Cap.CPU["ivrd"], 100*p.Cap.CPU["callers"], 100*p.Cap.CPU["agents"], 100*p.Cap.CPU["capture"], 100*p.Cap.others(),
			p.NoCap.RunQueueS/max(p.NoCap.CPUSecs["ivrd"], 1e-9),
			float64(p.Relay.Relayed)/max(p.Cap.WindowS, 1e-9), with*1e6, without*1e6,
			(float64(p.NoCap.RSSKB)-float64(idle.RSSKB))/calls,
			float64(p.NoCap.Goroutines-idle.Goroutines)/calls)
	}
	tw.Flush()
	fmt.Fprintln(w, "CPU: share of one CPU in the capture window; others: every other process on the machine (other work running beside the run).")
	fmt.Fprintln(w, "CPU/relayed pkt: ivrd's CPU time in the capture window over the packets it relayed in it; no capture: the window before, at the same rate.")
	fmt.Fprintln(w, "ivrd run-queue wait: time ivrd's threads spent ready to run but without a CPU (schedstat), per second of CPU they used, window without capture.")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Relay pacing: |Δ - 20 ms| of consecutive packets of every stream of every call, kernel timestamps on loopback;")
	fmt.Fprintln(w, "relayed: ivrd's packets as the phones receive them; sent: the phones' own packets to ivrd (sipp's pacing);")
	fmt.Fprintln(w, "sent bunching: share of the phones' packets sent in the busiest 5 ms of the 20 ms cycle (25% when spread evenly, as independent phones send).")
	fmt.Fprintln(w, "transit: ivrd's send minus the phone's send of the same packet (same payload); interval change: |relayed interval - sent interval| of the")
	fmt.Fprintln(w, "same two packets, what ivrd changes in the phone's pacing (adds to it when forwarding on receipt); machine wake-up late: how late a")
	fmt.Fprintln(w, "thread of the probe wakes from 1 ms sleeps meanwhile, the wait for a CPU that any thread, ivrd's included, sees at that load.")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\tstreams\tintervals\trelayed p50/p99/p99.9/max\tsent p50/p99/p99.9/max\tsent bunching\ttransit p50/p99\ttransit var p99/p99.9\tinterval change p99/p99.9\tmachine wake-up late p99/p99.9\tgaps relayed/sent\tnot relayed\tcapture drops\t")
	for _, p := range rows {
		r := p.Relay
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%.0f%%\t%s/%s\t%s/%s\t%s/%s\t%s/%s\t%d/%d\t%d\t%s\t\n",
			p.Calls, r.Streams, r.Arrival.N, quad(r.Arrival), quad(r.Sender), r.BunchingPct,
			ms(r.Transit.P50US), ms(r.Transit.P99US), ms(r.TransitVar.P99US), ms(r.TransitVar.P999US),
			ms(r.IntervalChange.P99US), ms(r.IntervalChange.P999US), ms(p.Cap.WakeLate.P99US), ms(p.Cap.WakeLate.P999US),
			r.RelayedGaps, r.SentGaps, r.NotRelayed, drops(p))
	}
	tw.Flush()
	fmt.Fprintln(w, "By direction, p99 relayed / sent: ")
	for _, p := range rows {
		r := p.Relay
		fmt.Fprintf(w, "  %d calls: to the agents %s / %s (callers' sipp), to the callers %s / %s (agents' sipp)\n",
			p.Calls, ms(r.ArrivalToAgents.P99US), ms(r.SenderCallers.P99US), ms(r.ArrivalToCallers.P99US), ms(r.SenderAgents.P99US))
	}
	for _, p := range rows {
		for _, e := range dedupe(p.Errors) {
			fmt.Fprintf(w, "  %d calls: %s\n", p.Calls, e)
		}
		if p.Relay.Unpaired > 0 || p.Relay.Stray > 0 || p.Relay.Unknown > 0 {
			fmt.Fprintf(w, "  %d calls: relayed packets without their source %d, stray %d, of no call %d\n",
				p.Calls, p.Relay.Unpaired, p.Relay.Stray, p.Relay.Unknown)
		}
	}

	at := rows[len(rows)-1]
	for _, p := range rows {
		if p.Calls == targetBridged {
			at = p
		}
	}
	with, without := at.cpuPerPacket()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets:")
	check := func(ok bool, what, got string) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "  %s  %-52s %s\n", verdict, what, got)
	}
	check(at.Calls >= targetBridged && at.bridged() >= targetBridged && at.failed() == 0,
		fmt.Sprintf("%d calls bridged and held, none failed", targetBridged),
		fmt.Sprintf("%d bridged (min over the windows) at %d, %d failed", at.bridged(), at.Calls, at.failed()))
	check(at.Calls >= targetBridged && at.Relay.Arrival.N > 0 && at.Relay.Arrival.P99US <= targetRelayP99US,
		"relay pacing |Δ-20 ms| p99 <= 2 ms, as received",
		fmt.Sprintf("%s at %d; the phones' own %s", ms(at.Relay.Arrival.P99US), at.Calls, ms(at.Relay.Sender.P99US)))
	check(at.Calls >= targetBridged && with > 0 && with <= targetCPUPerPacketS,
		"<= 60 µs CPU per relayed packet",
		fmt.Sprintf("%.1f µs at %d (%.1f µs without the capture)", with*1e6, at.Calls, without*1e6))
	fmt.Fprintf(w, "  (the phones' own pacing p99 %s, %.0f%% of their packets in 5 ms of each 20;\n",
		ms(at.Relay.Sender.P99US), at.Relay.BunchingPct)
	fmt.Fprintf(w, "   ivrd's transit p50/p99 %s/%s; relayed and sent intervals of the same packets differ by %s at p99;\n",
		ms(at.Relay.Transit.P50US), ms(at.Relay.Transit.P99US), ms(at.Relay.IntervalChange.P99US))
	fmt.Fprintf(w, "   ivrd's threads waited %.1f s on run queues per CPU second they ran; a sleeping thread woke %s late at p99, %s at p99.9.)\n",
		at.NoCap.RunQueueS/max(at.NoCap.CPUSecs["ivrd"], 1e-9), ms(at.Cap.WakeLate.P99US), ms(at.Cap.WakeLate.P999US))
}

func sippCounts(s sippResult) string {
	if !s.Known {
		return "?"
	}
	return fmt.Sprintf("%d/%d", s.Successful, s.Failed)
}

func quad(d dist) string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f/%.2f/%.2f/%.1f ms", d.P50US/1000, d.P99US/1000, d.P999US/1000, d.MaxUS/1000)
}

func ms(v float64) string { return fmt.Sprintf("%.2f ms", v/1000) }

func drops(p bridgePlateau) string {
	if p.CaptureDrops < 0 {
		return "?"
	}
	return strconv.FormatInt(p.CaptureDrops, 10)
}

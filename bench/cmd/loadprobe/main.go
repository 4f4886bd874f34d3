// Command loadprobe measures ivrd under the sipp load runs of make bench
// (scripts/load.sh, scripts/purge-load.sh, scripts/bridge-load.sh).
//
//	loadprobe idle    -pid PID -health URL -out idle.json
//	loadprobe measure -pid PID -health URL -sip ADDR -want N -out plateau.json
//	loadprobe report  -dir RUNDIR
//	loadprobe compare -files label=plateau.json,...
//
// idle records ivrd's resident memory and goroutines before any call.
// measure waits until ivrd holds the wanted number of calls, then places
// its own calls over raw SIP/UDP (INVITE with PCMU and telephone-event,
// ACK, an RFC 4733 "1", BYE), records the kernel arrival time of every RTP
// packet ivrd sends them and reads ivrd's CPU time, memory and goroutines
// over the same window. report turns the files of a run into a table and
// checks the targets; compare prints windows of one plateau side by side.
//
// For calls bridged to agents' phones (scripts/bridge-load.sh):
//
//	loadprobe agents  -api URL -token-file F -n N            make agent-0001..N available
//	loadprobe bridged -api URL -token-file F -want N         wait until N agents are bridged
//	loadprobe window  -pid PID -procs name=pid,... -out w.json   CPU, memory, calls over a window
//	loadprobe relay   -sip sip.pcap -rtp rtp.pcap -ivrd-sip ADDR -window w.json -out relay.json
//	loadprobe bridge-report -dir RUNDIR
//
// relay reads tcpdump captures of ivrd's SIP and of the phones' RTP on the
// loopback interface and measures, on every stream of every call, the
// pacing of what ivrd relays, the senders' own pacing and the transit
// through ivrd (see relay.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ivrd/ivrd/sip/siptest"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "idle":
		err = cmdIdle(ctx, os.Args[2:])
	case "measure":
		err = cmdMeasure(ctx, os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	case "compare":
		err = cmdCompare(os.Args[2:])
	case "agents":
		err = cmdAgents(ctx, os.Args[2:])
	case "bridged":
		err = cmdBridged(ctx, os.Args[2:])
	case "window":
		err = cmdWindow(ctx, os.Args[2:])
	case "relay":
		err = cmdRelay(os.Args[2:])
	case "bridge-report":
		err = cmdBridgeReport(os.Args[2:])

	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadprobe:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loadprobe idle|measure|report|compare|agents|bridged|window|relay|bridge-report [flags]")
	os.Exit(2)
}

// idleSnapshot is ivrd with no call.
type idleSnapshot struct {
	RSSKB      uint64 `json:"rss_kb"`
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
	Threads    int    `json:"threads"`
}

func cmdIdle(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	pid := fs.Int("pid", 0, "ivrd process id")
	url := fs.String("health", "http://127.0.0.1:8080/healthz", "ivrd /healthz URL")
	out := fs.String("out", "idle.json", "output file")
	fs.Parse(args)
	h, err := getHealth(ctx, *url)
	if err != nil {
		return err
	}
	p, err := readProc(*pid)
	if err != nil {
		return err
	}
	if h.ActiveCalls != 0 {
		return fmt.Errorf("idle: ivrd has %d calls", h.ActiveCalls)
	}
	return writeJSON(*out, idleSnapshot{RSSKB: p.RSSKB, Goroutines: h.Goroutines, HeapBytes: h.HeapBytes, Threads: p.Threads})
}

// plateau is what measure found at one load level.
type plateau struct {
	Want        int      `json:"want"`         // sipp calls asked for
	Reached     bool     `json:"reached"`      // ivrd held them before the wait ran out
	ActiveMin   int      `json:"active_min"`   // ivrd's calls during the window, sipp and probe
	ActiveMean  float64  `json:"active_mean"`  //
	WindowS     float64  `json:"window_s"`     // measured wall time
	CPUIvrd     float64  `json:"cpu_ivrd"`     // CPUs used by ivrd (1 = one core)
	CPUSipp     float64  `json:"cpu_sipp"`     // by sipp
	CPUProbe    float64  `json:"cpu_probe"`    // by this probe
	CPUMachine  float64  `json:"cpu_machine"`  // by every process
	LoadAvg     string   `json:"loadavg"`      // at the end of the window
	RSSKB       uint64   `json:"rss_kb"`       // ivrd at the end of the window
	HeapBytes   uint64   `json:"heap_bytes"`   //
	Goroutines  int      `json:"goroutines"`   //
	Threads     int      `json:"threads"`      //
	ProbeCalls  int      `json:"probe_calls"`  // placed
	ProbeOK     int      `json:"probe_ok"`     // answered
	Packets     int      `json:"packets"`      // RTP packets the probe calls received
	Expected    int      `json:"expected"`     // packets of the talkspurts received (received + lost)
	Lost        int      `json:"lost"`         // sequence gaps inside talkspurts
	Samples     int      `json:"samples"`      // intervals measured
	P50US       float64  `json:"p50_us"`       // |interval - 20ms|
	P99US       float64  `json:"p99_us"`       //
	P999US      float64  `json:"p999_us"`      //
	MaxUS       float64  `json:"max_us"`       //
	Over2msPct  float64  `json:"over_2ms_pct"` // share of intervals off by more than 2 ms
	PacerTicks  uint64   `json:"pacer_ticks"`  // ivrd's own pacer over the window
	PacerSkip   uint64   `json:"pacer_skipped"`
	PacerLate50 float64  `json:"pacer_late_p50_us"`
	PacerLate99 float64  `json:"pacer_late_p99_us"`
	PacerBusy99 float64  `json:"pacer_busy_p99_us"`
	PacerBusyMx float64  `json:"pacer_busy_max_us"`
	Errors      []string `json:"errors,omitempty"`
}

func cmdMeasure(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	pid := fs.Int("pid", 0, "ivrd process id")
	sippPID := fs.Int("sipp-pid", 0, "sipp process id (0: not measured)")
	url := fs.String("health", "http://127.0.0.1:8080/healthz", "ivrd /healthz URL")
	sipAddr := fs.String("sip", "127.0.0.1:5060", "ivrd SIP/UDP address")
	number := fs.String("number", "4000", "number to dial")
	want := fs.Int("want", 0, "calls ivrd must hold before measuring")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for them")
	settle := fs.Duration("settle", 5*time.Second, "how long to let the load settle once reached")
	calls := fs.Int("calls", 20, "probe calls")
	window := fs.Duration("window", 20*time.Second, "how long each probe call listens")
	out := fs.String("out", "plateau.json", "output file")
	fs.Parse(args)
	server, err := netip.ParseAddrPort(*sipAddr)
	if err != nil {
		return fmt.Errorf("parse -sip: %w", err)
	}

	res := plateau{Want: *want, ProbeCalls: *calls}
	deadline := time.Now().Add(*wait)
	for time.Now().Before(deadline) {
		h, err := getHealth(ctx, *url)
		if err == nil && h.ActiveCalls >= *want*98/100 {
			res.Reached = true
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if !res.Reached {
		res.Errors = append(res.Errors, fmt.Sprintf("ivrd did not reach %d calls within %v", *want, *wait))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*settle):
	}

	u, err := siptest.NewUA(server)
	if err != nil {
		return err
	}
	defer u.Close()

	h0, err := getHealth(ctx, *url)
	if err != nil {
		return err
	}
	p0, err := readProc(*pid)
	if err != nil {
		return err
	}
	var s0, s1 procSample
	if *sippPID > 0 {
		s0, _ = readProc(*sippPID)
	}
	self0, _ := readProc(os.Getpid())

	// Probe calls, staggered so their INVITEs do not land in one tick.
	results := make([]callResult, *calls)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = probeCall(ctx, u, *number, 2*time.Second, *window) })
		time.Sleep(50 * time.Millisecond)
	}
	// ivrd's load while the probes listen, once a second.
	var active []int
	var mid health
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		half := time.Now().Add(*window / 2)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Second):
			}
			h, err := getHealth(ctx, *url)
			if err != nil {
				continue
			}
			active = append(active, h.ActiveCalls)
			if mid.Goroutines == 0 && time.Now().After(half) {
				mid = h
			}
		}
	})
	time.Sleep(*window)
	close(stopSampling)
	sampler.Wait()
	p1, err := readProc(*pid)
	if err != nil {
		return err
	}
	h1, err := getHealth(ctx, *url)
	if err != nil {
		return err
	}
	if *sippPID > 0 {
		s1, _ = readProc(*sippPID)
	}
	self1, _ := readProc(os.Getpid())
	wg.Wait()

	res.WindowS = p1.At.Sub(p0.At).Seconds()
	res.CPUIvrd = cpuFraction(p0, p1)
	if *sippPID > 0 && s1.CPUTicks >= s0.CPUTicks {
		res.CPUSipp = cpuFraction(s0, s1)
	}
	res.CPUProbe = cpuFraction(self0, self1)
	res.CPUMachine = machineCPU(p0, p1)
	res.LoadAvg = loadAvg()
	res.RSSKB, res.Threads = p1.RSSKB, p1.Threads
	if mid.Goroutines == 0 {
		mid = h1
	}
	res.Goroutines, res.HeapBytes = mid.Goroutines, mid.HeapBytes
	if len(active) > 0 {
		res.ActiveMin = slices.Min(active)
		sum := 0
		for _, a := range active {
			sum += a
		}
		res.ActiveMean = float64(sum) / float64(len(active))
	}

	var deltas []time.Duration
	for _, r := range results {
		if r.Answered {
			res.ProbeOK++
		}
		if r.Err != nil {
			res.Errors = append(res.Errors, r.Err.Error())
		}
		res.Packets += r.Packets
		res.Lost += r.Lost
		deltas = append(deltas, r.Deltas...)
	}
	res.Expected = res.Packets + res.Lost
	res.Samples = len(deltas)
	if len(deltas) > 0 {
		slices.Sort(deltas)
		q := func(q float64) float64 { return us(deltas[int(q*float64(len(deltas)-1))]) }
		res.P50US, res.P99US, res.P999US, res.MaxUS = q(0.5), q(0.99), q(0.999), q(1)
		over := len(deltas) - sortSearch(deltas, 2*time.Millisecond)
		res.Over2msPct = 100 * float64(over) / float64(len(deltas))
	}
	if h0.Pacer != nil && h1.Pacer != nil {
		d := h1.Pacer.minus(h0.Pacer)
		res.PacerTicks, res.PacerSkip = d.Ticks, d.Skipped
		res.PacerLate50 = d.quantile(d.Lateness, 0.5, d.LateMaxUS)
		res.PacerLate99 = d.quantile(d.Lateness, 0.99, d.LateMaxUS)
		res.PacerBusy99 = d.quantile(d.Busy, 0.99, d.BusyMaxUS)
		res.PacerBusyMx = float64(h1.Pacer.BusyMaxUS)
	}
	return writeJSON(*out, res)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// sortSearch returns the index of the first delta above limit.
func sortSearch(sorted []time.Duration, limit time.Duration) int {
	i, _ := slices.BinarySearch(sorted, limit+1)
	return i
}

// minus returns the counts of p accumulated since old.
func (p *pacerInfo) minus(old *pacerInfo) pacerInfo {
	d := *p
	d.Ticks, d.Skipped = p.Ticks-old.Ticks, p.Skipped-old.Skipped
	sub := func(a, b []uint64) []uint64 {
		r := slices.Clone(a)
		for i := range r {
			if i < len(b) {
				r[i] -= b[i]
			}
		}
		return r
	}
	d.Lateness, d.Busy = sub(p.Lateness, old.Lateness), sub(p.Busy, old.Busy)
	return d
}

// quantile returns the upper bound, in µs, of the bucket holding quantile
// q; the last bucket has no bound and reports maxUS.
func (p *pacerInfo) quantile(buckets []uint64, q float64, maxUS int64) float64 {
	var total uint64
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q * float64(total-1))
	var seen uint64
	for i, n := range buckets {
		seen += n
		if seen > rank && i < len(p.LeUS) {
			return float64(min(p.LeUS[i], maxUS))
		}
		if seen > rank {
			break
		}
	}
	return float64(maxUS)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

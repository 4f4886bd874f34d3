package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The bridged-call run (scripts/bridge-load.sh) drives ivrd's agents
// through the supervisor API and measures windows of a plateau of calls
// bridged to them.

// apiClient calls ivrd's HTTP API with a supervisor's token.
type apiClient struct {
	base  string
	token string
}

func newAPIClient(base, tokenFile string) (*apiClient, error) {
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: strings.TrimSpace(string(b))}, nil
}

func (c *apiClient) do(ctx context.Context, method, path, body string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("decode %s: %w", path, err)
		}
	}
	return nil
}

// agentStates counts the agents by state (GET /api/agents).
func (c *apiClient) agentStates(ctx context.Context) (map[string]int, error) {
	var body struct {
		Agents []struct {
			State string `json:"state"`
		} `json:"agents"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/agents", "", &body); err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, a := range body.Agents {
		n[a.State]++
	}
	return n, nil
}

// cmdAgents sets the state of the agents named by -format for 1..n, a few
// requests at a time (POST /api/agents/{name}/state).
func cmdAgents(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agents", flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "ivrd's HTTP address")
	tokenFile := fs.String("token-file", "", "file holding a supervisor's token")
	format := fs.String("format", "agent-%04d", "agent names, from the agent's number 1..n")
	n := fs.Int("n", 0, "agents")
	state := fs.String("state", "available", "state to set")
	fs.Parse(args)
	c, err := newAPIClient(*api, *tokenFile)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"state": *state})
	names := make(chan string)
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for name := range names {
				if err := c.do(ctx, http.MethodPost, "/api/agents/"+name+"/state", string(body), nil); err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	for i := 1; i <= *n; i++ {
		names <- fmt.Sprintf(*format, i)
	}
	close(names)
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("agents: %d of %d failed: %s", len(failed), *n, failed[0])
	}
	return nil
}

// cmdBridged waits until at least -want agents are busy, that is bridged
// to a caller, and prints how many are.
func cmdBridged(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bridged", flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "ivrd's HTTP address")
	tokenFile := fs.String("token-file", "", "file holding a supervisor's token")
	want := fs.Int("want", 0, "agents busy to wait for")
	wait := fs.Duration("wait", time.Minute, "how long to wait")
	fs.Parse(args)
	c, err := newAPIClient(*api, *tokenFile)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	busy := 0
	for {
		states, err := c.agentStates(ctx)
		if err == nil {
			busy = states["busy"]
			if busy >= *want {
				fmt.Println(busy)
				return nil
			}
		}
		if time.Now().After(deadline) {
			fmt.Println(busy)
			return fmt.Errorf("bridged: %d of %d agents busy after %v", busy, *want, *wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// bridgeWindow is one measuring window of a plateau of bridged calls.
type bridgeWindow struct {
	Label      string             `json:"label"`
	StartNS    int64              `json:"start_ns"` // wall clock, as capture timestamps
	EndNS      int64              `json:"end_ns"`
	WindowS    float64            `json:"window_s"`
	CPU        map[string]float64 `json:"cpu"`         // CPUs used by each named group of processes (1 = one core)
	CPUSecs    map[string]float64 `json:"cpu_seconds"` // CPU time each group used in the window
	CPUMachine float64            `json:"cpu_machine"` // by every process
	LoadAvg    string             `json:"loadavg"`
	RSSKB      uint64             `json:"rss_kb"` // ivrd at the end of the window
	Threads    int                `json:"threads"`
	Goroutines int                `json:"goroutines"` // ivrd, mid-window
	HeapBytes  uint64             `json:"heap_bytes"`
	ActiveMin  int                `json:"active_min"` // ivrd's calls, sampled each second
	ActiveMean float64            `json:"active_mean"`
	BusyStart  int                `json:"busy_start"` // agents bridged to a caller
	BusyEnd    int                `json:"busy_end"`
	// RunQueueS is the time ivrd's threads spent runnable but waiting for
	// a CPU in the window, summed over threads (/proc/PID/task/*/schedstat):
	// the machine's share of ivrd's latency.
	RunQueueS float64 `json:"run_queue_s"`
	// WakeLate is how late a thread of this probe woke from 1 ms sleeps
	// during the window: what any thread of the machine waits for a CPU at
	// that load, the floor under ivrd's own wake-ups.
	WakeLate dist     `json:"wake_late"`
	Errors   []string `json:"errors,omitempty"`
}

// sleeper measures, until stop is closed, how late a thread of its own
// wakes from 1 ms sleeps (nanosleep(2) on a locked thread: the kernel's
// wake-up and the wait for a CPU, no runtime timer in between).
func sleeper(stop <-chan struct{}) []time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const nap = time.Millisecond
	ts := syscall.NsecToTimespec(int64(nap))
	late := make([]time.Duration, 0, 1<<16)
	for {
		select {
		case <-stop:
			return late
		default:
		}
		t := time.Now()
		syscall.Nanosleep(&ts, nil)
		late = append(late, max(time.Since(t)-nap, 0))
	}
}

// threadWaits returns, by thread, the nanoseconds each thread of pid has
// spent waiting on a run queue (the second field of schedstat).
func threadWaits(pid int) map[string]uint64 {
	waits := map[string]uint64{}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return waits
	}
	for _, e := range entries {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			waits[e.Name()], _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	return waits
}

// waitedSince sums the run-queue waits of threads since before: all of it
// for threads started meanwhile.
func waitedSince(before, after map[string]uint64) time.Duration {
	var ns uint64
	for tid, w := range after {
		if w0, ok := before[tid]; ok && w0 <= w {
			ns += w - w0
		} else if !ok {
			ns += w
		}
	}
	return time.Duration(ns)
}

// cmdWindow reads the CPU time of ivrd and of the other named processes,
// the agents bridged and ivrd's memory over one window.
func cmdWindow(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("window", flag.ExitOnError)
	pid := fs.Int("pid", 0, "ivrd process id")
	procs := fs.String("procs", "", "other processes to measure, name=pid[+pid...],...")
	url := fs.String("health", "http://127.0.0.1:8080/healthz", "ivrd /healthz URL")
	api := fs.String("api", "http://127.0.0.1:8080", "ivrd's HTTP address")
	tokenFile := fs.String("token-file", "", "file holding a supervisor's token")
	window := fs.Duration("window", 20*time.Second, "window length")
	label := fs.String("label", "", "what the window is")
	out := fs.String("out", "window.json", "output file")
	fs.Parse(args)
	c, err := newAPIClient(*api, *tokenFile)
	if err != nil {
		return err
	}
	pids := map[string][]int{"ivrd": {*pid}}
	for _, pair := range strings.Split(*procs, ",") {
		if pair == "" {
			continue
		}
		name, list, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("window: %q is not name=pid[+pid...]", pair)
		}
		for _, v := range strings.Split(list, "+") {
			p, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("window: %q is not name=pid[+pid...]", pair)
			}
			pids[name] = append(pids[name], p)
		}
	}
	w := bridgeWindow{Label: *label, CPU: map[string]float64{}, CPUSecs: map[string]float64{}}
	busy := func() int {
		s, err := c.agentStates(ctx)
		if err != nil {
			w.Errors = append(w.Errors, err.Error())
			return 0
		}
		return s["busy"]
	}
	w.BusyStart = busy()

	// CPU ticks of each named group of processes, and the machine's at the
	// first of ivrd's samples.
	type group struct {
		ticks uint64
		ok    bool
	}
	sample := func() (map[string]group, procSample) {
		groups := map[string]group{}
		var ivrd procSample
		for name, list := range pids {
			g := group{ok: true}
			for _, p := range list {
				s, err := readProc(p)
				if err != nil {
					w.Errors = append(w.Errors, fmt.Sprintf("%s: %v", name, err))
					g.ok = false
					continue
				}
				g.ticks += s.CPUTicks
				if name == "ivrd" {
					ivrd = s
				}
			}
			groups[name] = g
		}
		return groups, ivrd
	}
	before, ivrd0 := sample()
	waits := threadWaits(*pid)
	stopSleeper := make(chan struct{})
	sleeps := make(chan []time.Duration, 1)
	go func() { sleeps <- sleeper(stopSleeper) }()
	start := time.Now()
	var active []int
	var mid health
	half := start.Add(*window / 2)
	for time.Since(start) < *window {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Second, *window-time.Since(start))):
		}
		if h, err := getHealth(ctx, *url); err == nil {
			active = append(active, h.ActiveCalls)
			if mid.Goroutines == 0 && time.Now().After(half) {
				mid = h
			}
		}
	}
	end := time.Now()
	close(stopSleeper)
	w.WakeLate = newDist(<-sleeps)
	w.RunQueueS = waitedSince(waits, threadWaits(*pid)).Seconds()
	after, ivrd1 := sample()
	wall := ivrd1.At.Sub(ivrd0.At).Seconds()
	for name, g1 := range after {
		g0 := before[name]
		if !g0.ok || !g1.ok || g1.ticks < g0.ticks || wall <= 0 {
			continue
		}
		w.CPUSecs[name] = float64(g1.ticks-g0.ticks) / userHZ
		w.CPU[name] = w.CPUSecs[name] / wall
	}
	w.RSSKB, w.Threads = ivrd1.RSSKB, ivrd1.Threads
	w.CPUMachine = machineCPU(ivrd0, ivrd1)
	w.StartNS, w.EndNS = start.UnixNano(), end.UnixNano()
	w.WindowS = end.Sub(start).Seconds()
	w.LoadAvg = loadAvg()
	w.Goroutines, w.HeapBytes = mid.Goroutines, mid.HeapBytes
	if len(active) > 0 {
		w.ActiveMin = slices.Min(active)
		sum := 0
		for _, a := range active {
			sum += a
		}
		w.ActiveMean = float64(sum) / float64(len(active))
	}
	w.BusyEnd = busy()
	return writeJSON(*out, w)
}

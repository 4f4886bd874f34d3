package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on Linux).
const userHZ = 100

// health is the part of ivrd's /healthz the probe reads. Goroutines, Heap
// and Pacer are absent from builds that do not report them.
type health struct {
	ActiveCalls int        `json:"active_calls"`
	Goroutines  int        `json:"goroutines"`
	HeapBytes   uint64     `json:"heap_bytes"`
	Pacer       *pacerInfo `json:"pacer"`
}

// pacerInfo are ivrd's own pacer counters (cumulative since start).
type pacerInfo struct {
	Ticks     uint64   `json:"ticks"`
	Skipped   uint64   `json:"skipped"`
	LeUS      []int64  `json:"le_us"`    // bucket upper bounds
	Lateness  []uint64 `json:"lateness"` // one more bucket than LeUS
	Busy      []uint64 `json:"busy"`
	LateMaxUS int64    `json:"lateness_max_us"`
	BusyMaxUS int64    `json:"busy_max_us"`
}

func getHealth(ctx context.Context, url string) (health, error) {
	var h health
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return h, fmt.Errorf("get health: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return h, fmt.Errorf("get health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("get health: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("decode health: %w", err)
	}
	return h, nil
}

// procSample is one reading of a process and of the whole machine.
type procSample struct {
	At       time.Time
	CPUTicks uint64 // utime+stime of the process, in USER_HZ ticks
	RSSKB    uint64
	Threads  int
	All      map[int]uint64 // utime+stime of every process, by pid
	SysTotal uint64         // ticks elapsed on all CPUs
}

func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat: %w", err)
	}
	// The command name may hold spaces; fields start after its ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, errors.New("read stat: malformed")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return s, errors.New("read stat: short")
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	s.CPUTicks = utime + stime
	s.Threads, _ = strconv.Atoi(f[17])

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			s.RSSKB, _ = strconv.ParseUint(strings.Fields(v)[0], 10, 64)
		}
	}
	s.All, s.SysTotal, err = readSysCPU()
	return s, err
}

// readSysCPU returns the CPU ticks used by every process alive, by pid, and
// the ticks elapsed on all CPUs (total). /proc/stat is not used for busy: its
// tick sampling misses a process that runs in short bursts between ticks,
// as a pacer does, while per-process times are accounted precisely.
func readSysCPU() (busy map[int]uint64, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return nil, 0, errors.New("read /proc/stat: malformed")
	}
	for i, v := range f[1:] {
		if i >= 8 { // guest times are already in user and nice
			break
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, 0, fmt.Errorf("read /proc: %w", err)
	}
	busy = make(map[int]uint64, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 12 {
				u, _ := strconv.ParseUint(f[11], 10, 64)
				s, _ := strconv.ParseUint(f[12], 10, 64)
				busy[pid] = u + s
			}
		}
	}
	return busy, total, nil
}

// machineCPU is the number of CPUs all processes used between two samples:
// processes alive at both count their difference, processes started in
// between all their time, processes gone in between nothing.
func machineCPU(a, b procSample) float64 {
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return 0
	}
	var ticks uint64
	for pid, t := range b.All {
		if old, ok := a.All[pid]; ok && old <= t {
			ticks += t - old
		} else if !ok {
			ticks += t
		}
	}
	return float64(ticks) / userHZ / wall
}

// cpuFraction is the share of one CPU a process used between two samples.
func cpuFraction(a, b procSample) float64 {
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64(b.CPUTicks-a.CPUTicks) / userHZ / wall
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

package media

import (
	"bufio"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRelayLoad bridges n calls (2n sessions) with the far ends in
// another process: for each call a caller's phone and an agent's phone,
// each a session of that process's own endpoint playing a tone, 50
// packets a second each way. This process only relays, so its CPU time
// over the packets relayed is the CPU per relayed packet, receive
// included. The far end measures the pacing of the relayed streams on a
// sample of the agents' phones (every tenth call: sockets that only
// listen, with kernel receive timestamps): |interval - 20 ms|, which adds
// the far end's own pacing jitter to the relay's.
func BenchmarkRelayLoad(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				benchmarkRelayLoad(b, n, 6*time.Second)
			}
		})
	}
}

// loadPeerEnv starts TestRelayLoadPeer as the far ends of BenchmarkRelayLoad.
const loadPeerEnv = "IVRD_MEDIA_RELAY_LOAD_PEER"

// loadResult is what the far ends report.
type loadResult struct {
	Deltas   []time.Duration // |interval - 20 ms| of the relayed packets on the sampled phones
	Direct   []time.Duration // the same for streams sent straight from far end to far end
	Expected int             // intervals the sampled phones should have seen
	Received uint64          // packets the playing phones received from ivrd
}

func benchmarkRelayLoad(b *testing.B, n int, d time.Duration) {
	// Two spare Ps, as ivrd serve runs.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayLoadPeer$", "-test.count=1")
	cmd.Env = append(os.Environ(), loadPeerEnv+"="+strconv.Itoa(n)+","+d.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := json.NewDecoder(bufio.NewReader(stdout))

	// The phones' addresses: callers, then agents.
	var phones []netip.AddrPort
	if err := out.Decode(&phones); err != nil {
		b.Fatalf("far ends: %v", err)
	}
	e, err := NewEndpoint(EndpointConfig{IP: loopback, PortMin: 40000, PortMax: 40000 + 4*n + 100, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	sessions := make([]*Session, 2*n)
	for i := range sessions {
		s, err := e.NewSession(quietLogger())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Start(phones[i], CodecPCMU, 101); err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
	}
	relays := make([]*Relay, n)
	for i := range relays {
		r, err := Bridge(sessions[i], sessions[n+i])
		if err != nil {
			b.Fatal(err)
		}
		relays[i] = r
	}
	addrs := make([]netip.AddrPort, len(sessions))
	for i, s := range sessions {
		addrs[i] = s.LocalAddr()
	}
	if err := json.NewEncoder(stdin).Encode(addrs); err != nil {
		b.Fatal(err)
	}

	// Measure over the middle of the run, away from the start and end.
	relayed := func() (total uint64) {
		for _, r := range relays {
			st := r.Stats()
			total += st.AToB.Packets + st.BToA.Packets
		}
		return total
	}
	time.Sleep(d / 6)
	cpu0, pk0, t0 := cpuTime(b), relayed(), time.Now()
	time.Sleep(d * 4 / 6)
	cpu1, pk1, t1 := cpuTime(b), relayed(), time.Now()

	var res loadResult
	if err := out.Decode(&res); err != nil {
		b.Fatalf("far ends' results: %v", err)
	}
	for _, r := range relays {
		r.Stop()
	}
	for _, s := range sessions {
		s.Close()
	}
	if pk1 == pk0 || len(res.Deltas) == 0 {
		b.Fatal("nothing relayed")
	}
	slices.Sort(res.Deltas)
	slices.Sort(res.Direct)
	p := func(q float64) float64 {
		return float64(res.Deltas[int(q*float64(len(res.Deltas)-1))]) / float64(time.Millisecond)
	}
	if len(res.Direct) > 0 {
		// The far end's own pacing, for comparison.
		q := func(q float64) float64 {
			return float64(res.Direct[int(q*float64(len(res.Direct)-1))]) / float64(time.Millisecond)
		}
		b.ReportMetric(q(0.50), "direct-p50-jitter-ms")
		b.ReportMetric(q(0.99), "direct-p99-jitter-ms")
	}
	b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(pk1-pk0), "cpu-µs/pkt")
	b.ReportMetric(float64(pk1-pk0)/t1.Sub(t0).Seconds(), "pkt/s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(t1.Sub(t0)), "cores")
	b.ReportMetric(p(0.50), "p50-jitter-ms")
	b.ReportMetric(p(0.99), "p99-jitter-ms")
	b.ReportMetric(p(0.999), "p999-jitter-ms")
	b.ReportMetric(float64(len(res.Deltas))/float64(res.Expected), "delivered")
}

// TestRelayLoadPeer is the far ends of BenchmarkRelayLoad, run in a process
// of its own when the benchmark starts it; otherwise it does nothing.
func TestRelayLoadPeer(t *testing.T) {
	env := os.Getenv(loadPeerEnv)
	if env == "" {
		return
	}
	calls, length, _ := strings.Cut(env, ",")
	n, err := strconv.Atoi(calls)
	if err != nil {
		t.Fatal(err)
	}
	d, err := time.ParseDuration(length)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(runtime.NumCPU() + 2)
	e, err := NewEndpoint(EndpointConfig{IP: loopback, PortMin: 46000, PortMax: 46000 + 4*n + 100, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	// Callers 0..n-1, agents n..2n-1; every tenth call's agent is a
	// listening socket with kernel receive timestamps.
	sampled := func(i int) bool { return i >= n && (i-n)%10 == 0 }
	phones := make([]*Session, 2*n)
	listeners := map[int]*net.UDPConn{}
	addrs := make([]netip.AddrPort, 2*n)
	for i := range phones {
		if sampled(i) {
			c := listenTimestamped(t)
			defer c.Close()
			listeners[i] = c
			addrs[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
			continue
		}
		s, err := e.NewSession(quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		phones[i] = s
		addrs[i] = s.LocalAddr()
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(addrs); err != nil {
		t.Fatal(err)
	}
	var ivrd []netip.AddrPort
	if err := json.NewDecoder(os.Stdin).Decode(&ivrd); err != nil {
		t.Fatal(err)
	}
	for i, s := range phones {
		if s == nil {
			continue
		}
		if err := s.Start(ivrd[i], CodecPCMU, 101); err != nil {
			t.Fatal(err)
		}
	}

	// As many direct streams as sampled ones, far end to far end, show
	// the far end's own pacing under the same load.
	var direct []*net.UDPConn
	for range listeners {
		c := listenTimestamped(t)
		defer c.Close()
		direct = append(direct, c)
		s, err := e.NewSession(quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Start(c.LocalAddr().(*net.UDPAddr).AddrPort(), CodecPCMU, 101); err != nil {
			t.Fatal(err)
		}
		phones = append(phones, s)
	}

	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	listen := func(c *net.UDPConn, into *[]time.Duration) {
		buf := make([]byte, 1500)
		oob := make([]byte, 128)
		var last time.Time
		for {
			wait := 300 * time.Millisecond
			if last.IsZero() {
				wait = 3 * time.Second
			}
			c.SetReadDeadline(time.Now().Add(wait))
			_, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return
			}
			at, ok := rxTimestamp(oob[:oobn])
			if !ok {
				continue
			}
			if !last.IsZero() {
				dt := at.Sub(last) - frameDuration
				mu.Lock()
				*into = append(*into, max(dt, -dt))
				mu.Unlock()
			}
			last = at
		}
	}
	for _, c := range listeners {
		wg.Go(func() { listen(c, &res.Deltas) })
	}
	for _, c := range direct {
		wg.Go(func() { listen(c, &res.Direct) })
	}
	clip := tone(440, sampleRate, int(d/frameDuration)*samplesPerFrame, 8000)
	var playing []*Playback
	for _, s := range phones {
		if s != nil {
			playing = append(playing, s.Play([]Clip{{Samples: clip}}))
		}
	}
	for _, pb := range playing {
		<-pb.Done()
	}
	wg.Wait()
	res.Expected = len(listeners) * (int(d/frameDuration) - 1)
	for _, s := range phones[:2*n] {
		if s != nil {
			res.Received += s.Stats().PacketsReceived
		}
	}
	if err := enc.Encode(res); err != nil {
		t.Fatal(err)
	}
}

// listenTimestamped returns a loopback socket with kernel receive
// timestamps.
func listenTimestamped(t *testing.T) *net.UDPConn {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

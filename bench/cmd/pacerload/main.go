// Command pacerload runs the media pacer alone: N sessions playing a tone to
// a loopback socket nobody reads, for a while, then prints the pacers' own
// lateness and per-tick send time. It separates the pacer's cost from
// signalling and from the load generator.
//
//	pacerload -n 2000 -d 10s
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/ivrd/ivrd/media"
)

func main() {
	n := flag.Int("n", 2000, "sessions")
	d := flag.Duration("d", 10*time.Second, "how long they play")
	flag.Parse()
	if err := run(*n, *d); err != nil {
		fmt.Fprintln(os.Stderr, "pacerload:", err)
		os.Exit(1)
	}
}

func run(n int, d time.Duration) error {
	lo := netip.MustParseAddr("127.0.0.1")
	log := slog.New(slog.DiscardHandler)
	ep, err := media.NewEndpoint(media.EndpointConfig{IP: lo, PortMin: 40000, PortMax: 40000 + 2*n + 200, Logger: log})
	if err != nil {
		return err
	}
	defer ep.Close()
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		return fmt.Errorf("listen sink: %w", err)
	}
	defer sink.Close()
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()

	tone := make([]int16, int(d.Seconds()+2)*8000)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	for range n {
		s, err := ep.NewSession(log)
		if err != nil {
			return err
		}
		if err := s.Start(to, media.CodecPCMU, 101); err != nil {
			return err
		}
		s.Play([]media.Clip{{Samples: tone}})
	}
	time.Sleep(time.Second)
	before := ep.PacerStats()
	time.Sleep(d)
	s := ep.PacerStats()
	late, busy := s.Lateness.Sub(before.Lateness), s.Busy.Sub(before.Busy)
	fmt.Printf("sessions %d, ticks %d, skipped %d\n", n, s.Ticks-before.Ticks, s.Skipped-before.Skipped)
	fmt.Printf("lateness p50 %v p99 %v max %v\n", late.Quantile(0.5), late.Quantile(0.99), s.Lateness.Max)
	fmt.Printf("busy     p50 %v p99 %v max %v\n", busy.Quantile(0.5), busy.Quantile(0.99), s.Busy.Max)
	fmt.Printf("lateness buckets %v\nbusy buckets     %v\nbounds %v\n", late.Counts, busy.Counts, media.HistogramBounds())
	return nil
}

package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// stream builds a phone's stream: n packets 20 ms apart from t0, each
// shifted by jitter(k), with its own SSRC, sequence and timestamp bases and
// a payload prefix unique to the packet (noise) or repeating every 5
// packets (a tone).
func stream(t0 int64, n int, jitter func(k int) time.Duration, noise bool) []rtpRec {
	recs := make([]rtpRec, n)
	for k := range recs {
		pay := uint64(k%5) + 1
		if noise {
			pay = uint64(k)*0x9e3779b97f4a7c15 | 1
		}
		recs[k] = rtpRec{
			at:   t0 + int64(time.Duration(k)*frame+jitter(k)),
			ssrc: 0x1234, seq: uint16(60000 + k), ts: uint32(1000 + 160*k), pt: 0,
			payN: 8, pay: pay,
		}
	}
	return recs
}

// relay is what ivrd does to a stream: each packet sent on after
// transit(k), in the destination's stream (another SSRC, sequence and
// timestamp shifted by constants), payload untouched; drop(k) loses it.
func relay(sent []rtpRec, transit func(k int) time.Duration, drop func(k int) bool) []rtpRec {
	var out []rtpRec
	for k, s := range sent {
		if drop != nil && drop(k) {
			continue
		}
		r := s
		r.at += int64(transit(k))
		r.ssrc, r.seq, r.ts = 0xabcd, s.seq+7000, s.ts+123456
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b rtpRec) int { return int(a.at - b.at) })
	return out
}

func none(int) time.Duration { return 0 }

func TestPairTransit(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	for _, tc := range []struct {
		name    string
		noise   bool
		transit func(k int) time.Duration
		jitter  func(k int) time.Duration
	}{
		{"steady", true, func(int) time.Duration { return 300 * time.Microsecond }, none},
		{"spikes beyond the next packet", true, func(k int) time.Duration {
			if k%7 == 3 {
				return 45 * time.Millisecond
			}
			return time.Millisecond
		}, none},
		{"always late by more than a packet, noise", true, func(k int) time.Duration {
			return 41*time.Millisecond + time.Duration(k%3)*time.Millisecond
		}, none},
		{"tone, mostly quick", false, func(k int) time.Duration {
			if k%11 == 0 {
				return 30 * time.Millisecond
			}
			return 2 * time.Millisecond
		}, none},
		{"bursty sender", true, func(k int) time.Duration { return time.Duration(k%4) * time.Millisecond },
			func(k int) time.Duration {
				if k%2 == 1 {
					return -18 * time.Millisecond // sent right after the previous one
				}
				return 0
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := stream(t0, 500, tc.jitter, tc.noise)
			relayed := relay(sent, tc.transit, nil)
			p := pairTransit(sent, relayed)
			if p.unpaired != 0 || p.paired != 500 {
				t.Fatalf("paired %d, unpaired %d, want 500, 0", p.paired, p.unpaired)
			}
			if len(p.offsets) != 1 || p.offsets[0] != 7000 {
				t.Errorf("offsets %v, want [7000]", p.offsets)
			}
			want := make([]time.Duration, 500)
			for k := range want {
				want[k] = tc.transit(k)
			}
			got := slices.Clone(p.transit)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("transits differ: got %v..., want %v...", got[:5], want[:5])
			}
			minT := want[0]
			for _, v := range p.variation {
				if v < 0 || v > want[len(want)-1]-minT {
					t.Fatalf("variation %v out of [0, %v]", v, want[len(want)-1]-minT)
				}
			}
		})
	}
}

func TestPairTransitRestartAndLoss(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	sent := stream(t0, 300, none, true)
	relayed := relay(sent, func(int) time.Duration { return time.Millisecond }, func(k int) bool { return k == 50 || k == 51 })
	// The source restarts its stream at packet 200: the relay maps it
	// with a new offset.
	for i := range relayed {
		if relayed[i].at >= sent[200].at {
			relayed[i].seq += 500
		}
	}
	p := pairTransit(sent, relayed)
	if p.paired != 298 || p.unpaired != 0 {
		t.Errorf("paired %d, unpaired %d, want 298, 0", p.paired, p.unpaired)
	}
	if !slices.Equal(p.offsets, []uint16{7000, 7500}) {
		t.Errorf("offsets %v, want [7000 7500]", p.offsets)
	}
	if n := notRelayed(sent, relayed, p.offsets); n != 0 {
		t.Errorf("notRelayed with a restart = %d, want 0 (not followed)", n)
	}
	relayed = relay(sent, func(int) time.Duration { return time.Millisecond }, func(k int) bool { return k == 50 || k == 51 })
	p = pairTransit(sent, relayed)
	if n := notRelayed(sent, relayed, p.offsets); n != 2 {
		t.Errorf("notRelayed = %d, want 2", n)
	}
	var gaps uint64
	_, gaps = intervals(nil, relayed, gaps)
	if gaps != 2 {
		t.Errorf("gaps = %d, want 2", gaps)
	}
}

func TestPairTransitRepaced(t *testing.T) {
	// A relay that queues what it receives and sends it on its own 20 ms
	// ticks, in its own numbering: the packets keep their payload, and a
	// frame it drops (to bring its latency down) shifts the numbering.
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	sent := stream(t0, 200, func(k int) time.Duration { return time.Duration(k%3) * time.Millisecond }, true)
	var relayed []rtpRec
	src := 0
	for k := 0; src < len(sent); k++ {
		if k == 100 {
			src++ // dropped from the queue
		}
		r := sent[src]
		r.at = t0 + int64(45*time.Millisecond) + int64(k)*int64(frame)
		r.ssrc, r.seq, r.ts = 0xabcd, uint16(9000+k), uint32(5000+160*k)
		relayed = append(relayed, r)
		src++
	}
	p := pairTransit(sent, relayed)
	if p.paired != uint64(len(relayed)) || p.unpaired != 0 {
		t.Errorf("paired %d, unpaired %d; want %d, 0", p.paired, p.unpaired, len(relayed))
	}
	if len(p.offsets) != 2 {
		t.Errorf("offsets %v, want two", p.offsets)
	}
	got, _ := intervals(nil, relayed, 0)
	for _, d := range got {
		if d != 0 {
			t.Fatalf("relayed intervals off 20 ms by %v, want 0: the relay's own ticks", d)
		}
	}
}

func TestIntervals(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	jit := []time.Duration{0, 0, 3 * time.Millisecond, 0, -1 * time.Millisecond, 0}
	recs := stream(t0, len(jit), func(k int) time.Duration { return jit[k] }, true)
	recs[5].ssrc = 99 // a new stream: not an interval
	got, gaps := intervals(nil, recs, 0)
	want := []time.Duration{0, 3 * time.Millisecond, 3 * time.Millisecond, time.Millisecond}
	if !slices.Equal(got, want) || gaps != 0 {
		t.Errorf("intervals = %v, %d gaps; want %v, 0", got, gaps, want)
	}
}

func TestBunching(t *testing.T) {
	var even, burst, two [20]uint64
	for i := range even {
		even[i] = 10
	}
	burst[19], burst[0], burst[1] = 50, 100, 50 // across the cycle's wrap
	two[2], two[12] = 10, 10
	for _, tc := range []struct {
		name  string
		phase [20]uint64
		want  float64
	}{{"even", even, 25}, {"one burst", burst, 100}, {"two bursts", two, 50}, {"none", [20]uint64{}, 0}} {
		if got := bunching(tc.phase); got != tc.want {
			t.Errorf("%s: bunching = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOffsetFromTone(t *testing.T) {
	// A tone repeating every 5 packets, every packet relayed 30 ms late:
	// the source cannot be told from the packet 5 later, but it can from
	// the one 1 later; the largest offset is the true one.
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	sent := stream(t0, 100, none, false)
	relayed := relay(sent, func(int) time.Duration { return 30 * time.Millisecond }, nil)
	if off, ok := offsetFrom(sent, relayed); !ok || off != 7000 {
		t.Errorf("offsetFrom = %d, %v; want 7000, true", off, ok)
	}
	// The first packets relayed after the tone came round again (110 ms):
	// they match the packet 5 later, the others their own.
	relayed = relay(sent, func(k int) time.Duration {
		if k < 3 {
			return 110 * time.Millisecond
		}
		return 2 * time.Millisecond
	}, nil)
	if off, ok := offsetFrom(sent, relayed); !ok || off != 7000 {
		t.Errorf("offsetFrom after a late start = %d, %v; want 7000, true", off, ok)
	}
}

func TestAnalyseRelay(t *testing.T) {
	ivrd := netip.MustParseAddrPort("127.0.0.1:27060")
	callerSIP := netip.MustParseAddrPort("127.0.0.1:27062")
	agentSIP := netip.MustParseAddrPort("127.0.0.1:27070")
	callerRTP := netip.MustParseAddrPort("127.0.0.1:27064")
	agentRTP := netip.MustParseAddrPort("127.0.0.1:27072")
	t0 := time.Unix(1_800_000_000, 0)

	sig := newTestPcap(binary.LittleEndian, true, linkEthernet)
	type call struct{ a, b int } // ivrd's ports
	calls := []call{{10000, 10002}, {10004, 10006}}
	for i, c := range calls {
		user, cid, aid := "caller"+string(rune('1'+i)), "c"+string(rune('1'+i)), "a"+string(rune('1'+i))
		sig.udp(t0, callerSIP, ivrd, invite(user, cid, sdpBody("127.0.0.1", int(callerRTP.Port()))), 0)
		sig.udp(t0, ivrd, callerSIP, response("200", "OK", cid, "INVITE", sdpBody("127.0.0.1", c.a)), 0)
		sig.udp(t0, ivrd, agentSIP, invite(user, aid, sdpBody("127.0.0.1", c.b)), 0)
		sig.udp(t0, agentSIP, ivrd, response("200", "OK", aid, "INVITE", sdpBody("127.0.0.1", int(agentRTP.Port()))), 0)
	}

	// Both phones of both calls send 100 packets; ivrd relays each after
	// 1 ms, 3 ms every tenth packet; the agent's packet 40 of call 2 is
	// lost in ivrd.
	rtp := newTestPcap(binary.LittleEndian, true, linkEthernet)
	type pkt struct {
		rec      rtpRec
		src, dst netip.AddrPort
	}
	var all []pkt
	rng := rand.New(rand.NewPCG(1, 2))
	start := t0.Add(time.Second).UnixNano()
	for i, c := range calls {
		a := netip.AddrPortFrom(ivrd.Addr(), uint16(c.a))
		b := netip.AddrPortFrom(ivrd.Addr(), uint16(c.b))
		transit := func(k int) time.Duration {
			if k%10 == 0 {
				return 3 * time.Millisecond
			}
			return time.Millisecond
		}
		for dir := range 2 {
			src, in, out, dst := callerRTP, a, b, agentRTP
			if dir == 1 {
				src, in, out, dst = agentRTP, b, a, callerRTP
			}
			sent := stream(start+int64(i)*int64(time.Millisecond), 100, func(int) time.Duration {
				return time.Duration(rng.IntN(200)) * time.Microsecond
			}, true)
			relayed := relay(sent, transit, func(k int) bool { return i == 1 && dir == 1 && k == 40 })
			for _, r := range sent {
				all = append(all, pkt{r, src, in})
			}
			for _, r := range relayed {
				all = append(all, pkt{r, out, dst})
			}
		}
	}
	// A stray packet to a call's port from elsewhere, one of no call.
	all = append(all, pkt{rtpRec{at: start + int64(time.Second), payN: 0}, netip.MustParseAddrPort("127.0.0.1:9"), netip.AddrPortFrom(ivrd.Addr(), 10000)})
	all = append(all, pkt{rtpRec{at: start + int64(time.Second)}, netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("127.0.0.1:11")})
	slices.SortStableFunc(all, func(x, y pkt) int { return int(x.rec.at - y.rec.at) })
	for _, p := range all {
		b := make([]byte, 12, 20)
		b[0], b[1] = 0x80, p.rec.pt
		binary.BigEndian.PutUint16(b[2:], p.rec.seq)
		binary.BigEndian.PutUint32(b[4:], p.rec.ts)
		binary.BigEndian.PutUint32(b[8:], p.rec.ssrc)
		b = binary.BigEndian.AppendUint64(b, p.rec.pay)
		rtp.udp(time.Unix(0, p.rec.at), p.src, p.dst, b, 54+8)
	}

	callMap, _, err := readSignalling(sig.write(t), ivrd)
	if err != nil {
		t.Fatal(err)
	}
	res, err := analyseRelay(rtp.write(t), callMap, start, start+int64(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 2 || res.Streams != 4 {
		t.Errorf("calls %d, streams %d; want 2, 4", res.Calls, res.Streams)
	}
	if res.Relayed != 399 || res.RelayedToAgents != 200 || res.RelayedToCallers != 199 || res.Sent != 400 {
		t.Errorf("relayed %d (%d to agents, %d to callers), sent %d; want 399 (200, 199), 400",
			res.Relayed, res.RelayedToAgents, res.RelayedToCallers, res.Sent)
	}
	if res.RelayedGaps != 1 || res.SentGaps != 0 || res.NotRelayed != 1 {
		t.Errorf("gaps relayed %d, sent %d, not relayed %d; want 1, 0, 1", res.RelayedGaps, res.SentGaps, res.NotRelayed)
	}
	if res.Stray != 1 || res.Unknown != 1 || res.Unpaired != 0 || res.Paired != 399 {
		t.Errorf("stray %d, unknown %d, paired %d, unpaired %d; want 1, 1, 399, 0", res.Stray, res.Unknown, res.Paired, res.Unpaired)
	}
	if res.Transit.P50US != 1000 || res.Transit.MaxUS != 3000 || res.TransitVar.MaxUS != 2000 {
		t.Errorf("transit p50 %v max %v, variation max %v µs; want 1000, 3000, 2000", res.Transit.P50US, res.Transit.MaxUS, res.TransitVar.MaxUS)
	}
	// Relayed intervals are the sender's plus the change of transit, which
	// is 2 ms around every tenth packet.
	if res.IntervalChange.MaxUS != 2000 || res.IntervalChange.N == 0 {
		t.Errorf("interval change: %+v, want max 2000 µs", res.IntervalChange)
	}
	if res.Arrival.MaxUS < 1800 || res.Arrival.MaxUS > 2200 || res.Sender.MaxUS > 200 {
		t.Errorf("arrival max %v µs, sender max %v µs; want 1800-2200, <= 200", res.Arrival.MaxUS, res.Sender.MaxUS)
	}
}

package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"
)

// The relay analysis reads two captures taken on the loopback interface
// while ivrd bridges callers to agents' phones: ivrd's SIP traffic (which
// RTP ports make up each call) and the RTP between the phones and ivrd.
// Every datagram is timestamped by the kernel as it passes the interface,
// which on loopback is when the sender's sendto(2) hands it over and, within
// microseconds, when it lands in the receiver's socket. The same clock thus
// gives, for every stream of every call:
//
//   - the sender's own pacing: the intervals of what a phone sends to ivrd;
//   - the relayed pacing: the intervals of what ivrd sends on to the other
//     phone, as that phone receives them;
//   - the transit through ivrd: when ivrd sent each packet on, minus when
//     the phone sent it (matched by sequence number: the relay keeps the
//     source's numbering, shifted by a constant).
//
// The relayed interval is the sender's interval plus the change in transit
// from one packet to the next.

// rtpRec is one RTP packet of a capture.
type rtpRec struct {
	at   int64 // capture time, ns since the Unix epoch
	ssrc uint32
	ts   uint32
	seq  uint16
	pt   uint8
	// The first payload bytes the capture kept (up to 8, in pay's high
	// bytes), which the relay passes on untouched between two legs of the
	// same codec: they tell a packet from its neighbours when the audio
	// does not repeat from one packet to the next (noise).
	payN uint8
	pay  uint64
}

// samePayload reports whether a and b start with the same payload bytes,
// or have none captured to compare.
func samePayload(a, b rtpRec) bool {
	n := min(a.payN, b.payN)
	if n == 0 {
		return true
	}
	shift := 8 * (8 - uint(n))
	return a.pay>>shift == b.pay>>shift
}

// callStreams are the four RTP streams of a bridged call.
type callStreams struct {
	fromCaller, toAgent []rtpRec // the caller's audio, as sent and as relayed
	fromAgent, toCaller []rtpRec // the agent's audio, as sent and as relayed
}

// dist summarises durations, in µs.
type dist struct {
	N          int     `json:"n"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	P999US     float64 `json:"p999_us"`
	MaxUS      float64 `json:"max_us"`
	Over2msPct float64 `json:"over_2ms_pct"` // share above 2 ms
}

func newDist(d []time.Duration) dist {
	if len(d) == 0 {
		return dist{}
	}
	slices.Sort(d)
	q := func(q float64) float64 { return us(d[int(q*float64(len(d)-1))]) }
	over := len(d) - sortSearch(d, 2*time.Millisecond)
	return dist{N: len(d), P50US: q(0.5), P99US: q(0.99), P999US: q(0.999), MaxUS: q(1),
		Over2msPct: 100 * float64(over) / float64(len(d))}
}

// relayResult is what the captures of one plateau show.
type relayResult struct {
	Signalling signalling `json:"signalling"`
	WindowS    float64    `json:"window_s"`
	Calls      int        `json:"calls"`   // bridged calls with relayed packets in the window
	Streams    int        `json:"streams"` // relayed streams with packets in the window

	Relayed          uint64 `json:"relayed"` // packets ivrd sent to the phones in the window
	RelayedToAgents  uint64 `json:"relayed_to_agents"`
	RelayedToCallers uint64 `json:"relayed_to_callers"`
	Sent             uint64 `json:"sent"`    // packets the phones sent to ivrd in the window
	Stray            uint64 `json:"stray"`   // to a call's ivrd port from another address
	Unknown          uint64 `json:"unknown"` // datagrams of no bridged call
	RelayedGaps      uint64 `json:"relayed_gaps"`
	SentGaps         uint64 `json:"sent_gaps"`
	NotRelayed       uint64 `json:"not_relayed"` // sent in the window, never relayed
	// Bunching is the share of the phones' packets sent in the busiest
	// 5 ms of the 20 ms cycle (on the capture's clock): 25% when the phones
	// send evenly over the cycle, as independent phones do, up to 100% when
	// every stream sends at the same moment. Bunched packets reach ivrd
	// together and wait for each other.
	BunchingPct float64 `json:"bunching_pct"`

	// |interval - 20 ms| of consecutive packets (sequence +1, timestamp
	// +160), as relayed (arrival at the phone) and as sent.
	Arrival          dist `json:"arrival"`
	ArrivalToAgents  dist `json:"arrival_to_agents"`
	ArrivalToCallers dist `json:"arrival_to_callers"`
	Sender           dist `json:"sender"`
	SenderCallers    dist `json:"sender_callers"`
	SenderAgents     dist `json:"sender_agents"`

	Transit    dist `json:"transit"`     // relayed minus sent
	TransitVar dist `json:"transit_var"` // transit minus the stream's minimum
	// IntervalChange is |relayed interval - sent interval| of the same two
	// packets (the change of transit from one to the next): what the relay
	// adds to the phone's jitter when it forwards on receipt, what it takes
	// away when it re-paces.
	IntervalChange dist   `json:"interval_change"`
	Paired         uint64 `json:"paired"` // relayed packets matched to their source
	Unpaired       uint64 `json:"unpaired"`
}

func cmdRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	sipPath := fs.String("sip", "sip.pcap", "capture of ivrd's SIP traffic, from before the calls")
	rtpPath := fs.String("rtp", "rtp.pcap", "capture of the phones' RTP")
	sipAddr := fs.String("ivrd-sip", "127.0.0.1:5060", "ivrd's SIP/UDP address")
	windowPath := fs.String("window", "", "window file (loadprobe window): only packets within it count")
	out := fs.String("out", "relay.json", "output file")
	fs.Parse(args)
	ivrd, err := netip.ParseAddrPort(*sipAddr)
	if err != nil {
		return fmt.Errorf("parse -ivrd-sip: %w", err)
	}
	from, to := int64(0), int64(1<<63-1)
	if *windowPath != "" {
		var w bridgeWindow
		if err := readJSON(*windowPath, &w); err != nil {
			return err
		}
		from, to = w.StartNS, w.EndNS
	}
	calls, sig, err := readSignalling(*sipPath, ivrd)
	if err != nil {
		return err
	}
	res, err := analyseRelay(*rtpPath, calls, from, to)
	if err != nil {
		return err
	}
	res.Signalling = sig
	return writeJSON(*out, res)
}

// pairingMargin is how far before the window the senders' packets are kept,
// so that the first packets relayed in the window find their source.
const pairingMargin = 2 * time.Second

// analyseRelay reads the RTP capture for the calls and measures the
// packets within [from, to] (ns since the epoch).
func analyseRelay(path string, calls map[string]*bridgedCall, from, to int64) (relayResult, error) {
	var res relayResult
	if from > 0 && to > from {
		res.WindowS = time.Duration(to - from).Seconds()
	}
	type port struct {
		call  int
		agent bool // the port of the agent leg
		peer  netip.AddrPort
	}
	ports := map[netip.AddrPort]port{}
	streams := make([]callStreams, 0, len(calls))
	for _, c := range calls {
		i := len(streams)
		streams = append(streams, callStreams{})
		ports[c.IvrdCaller] = port{call: i, peer: c.CallerMedia}
		ports[c.IvrdAgent] = port{call: i, agent: true, peer: c.AgentMedia}
	}

	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("read rtp capture: %w", err)
	}
	defer f.Close()
	r, err := newPcapReader(f)
	if err != nil {
		return res, fmt.Errorf("read rtp capture %s: %w", path, err)
	}
	keepFrom := from - int64(pairingMargin)
	for {
		pk, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("read rtp capture %s: %w", path, err)
		}
		at := pk.At.UnixNano()
		if at < keepFrom || at > to {
			continue
		}
		rec, ok := parseRTPHeader(pk.Payload)
		if !ok {
			continue
		}
		rec.at = at
		if p, ok := ports[pk.Dst]; ok {
			if pk.Src != p.peer {
				res.Stray++
				continue
			}
			s := &streams[p.call]
			if p.agent {
				s.fromAgent = append(s.fromAgent, rec)
			} else {
				s.fromCaller = append(s.fromCaller, rec)
			}
			continue
		}
		if p, ok := ports[pk.Src]; ok && pk.Dst == p.peer {
			if at < from {
				continue
			}
			s := &streams[p.call]
			if p.agent {
				s.toAgent = append(s.toAgent, rec)
			} else {
				s.toCaller = append(s.toCaller, rec)
			}
			continue
		}
		if at >= from {
			res.Unknown++
		}
	}

	var arrivalA, arrivalC, senderC, senderA, transit, transitVar, change []time.Duration
	var phase [20]uint64 // sent packets by millisecond of the 20 ms cycle
	for i := range streams {
		s := &streams[i]
		if len(s.toAgent) > 0 || len(s.toCaller) > 0 {
			res.Calls++
		}
		for _, dir := range []struct {
			sent, relayed []rtpRec
			arrival       *[]time.Duration
			sender        *[]time.Duration
			count         *uint64
		}{
			{s.fromCaller, s.toAgent, &arrivalA, &senderC, &res.RelayedToAgents},
			{s.fromAgent, s.toCaller, &arrivalC, &senderA, &res.RelayedToCallers},
		} {
			if len(dir.relayed) > 0 {
				res.Streams++
			}
			*dir.count += uint64(len(dir.relayed))
			inWindow := dir.sent[sortStart(dir.sent, from):]
			res.Sent += uint64(len(inWindow))
			for _, r := range inWindow {
				phase[r.at/int64(time.Millisecond)%20]++
			}
			*dir.arrival, res.RelayedGaps = intervals(*dir.arrival, dir.relayed, res.RelayedGaps)
			*dir.sender, res.SentGaps = intervals(*dir.sender, inWindow, res.SentGaps)
			pr := pairTransit(dir.sent, dir.relayed)
			res.Paired += pr.paired
			res.Unpaired += pr.unpaired
			res.NotRelayed += notRelayed(inWindow, dir.relayed, pr.offsets)
			transit = append(transit, pr.transit...)
			transitVar = append(transitVar, pr.variation...)
			change = append(change, pr.change...)
		}
	}
	res.Relayed = res.RelayedToAgents + res.RelayedToCallers
	res.BunchingPct = bunching(phase)
	arrival := slices.Concat(arrivalA, arrivalC)
	sender := slices.Concat(senderC, senderA)
	res.Arrival, res.ArrivalToAgents, res.ArrivalToCallers = newDist(arrival), newDist(arrivalA), newDist(arrivalC)
	res.Sender, res.SenderCallers, res.SenderAgents = newDist(sender), newDist(senderC), newDist(senderA)
	res.Transit, res.TransitVar, res.IntervalChange = newDist(transit), newDist(transitVar), newDist(change)
	return res, nil
}

// bunching returns the share, in percent, of the packets counted by
// millisecond of the 20 ms cycle that fall in the busiest 5 ms.
func bunching(phase [20]uint64) float64 {
	var total, best uint64
	for i := range phase {
		total += phase[i]
		var s uint64
		for k := range 5 {
			s += phase[(i+k)%20]
		}
		best = max(best, s)
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(best) / float64(total)
}

// parseRTPHeader reads the fixed RTP header (the capture may keep nothing
// after it).
func parseRTPHeader(b []byte) (rtpRec, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpRec{}, false
	}
	pt := b[1] & 0x7f
	if pt >= 72 && pt <= 76 {
		return rtpRec{}, false // RTCP on the RTP port
	}
	r := rtpRec{
		pt:   pt,
		seq:  binary.BigEndian.Uint16(b[2:]),
		ts:   binary.BigEndian.Uint32(b[4:]),
		ssrc: binary.BigEndian.Uint32(b[8:]),
	}
	off := 12 + 4*int(b[0]&0x0f)           // CSRCs
	if b[0]&0x10 != 0 && len(b) >= off+4 { // header extension
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	if off < len(b) {
		p := b[off:min(len(b), off+8)]
		for i, c := range p {
			r.pay |= uint64(c) << (56 - 8*i)
		}
		r.payN = uint8(len(p))
	}
	return r, true
}

// sortStart returns the index of the first packet at or after t.
func sortStart(recs []rtpRec, t int64) int {
	i, _ := slices.BinarySearchFunc(recs, t, func(r rtpRec, t int64) int {
		switch {
		case r.at < t:
			return -1
		case r.at > t:
			return 1
		}
		return 0
	})
	return i
}

// consecutive reports whether b follows a directly: same stream, next
// sequence number, 20 ms (160 samples at 8 kHz) of audio later.
func consecutive(a, b rtpRec) bool {
	return a.ssrc == b.ssrc && b.seq == a.seq+1 && b.ts-a.ts == 160 && a.pt == b.pt
}

// intervals appends |interval - 20 ms| for each pair of consecutive packets
// of one stream, and adds the sequence numbers missing in it to gaps.
func intervals(dst []time.Duration, recs []rtpRec, gaps uint64) ([]time.Duration, uint64) {
	for k := 1; k < len(recs); k++ {
		a, b := recs[k-1], recs[k]
		if consecutive(a, b) {
			d := time.Duration(b.at-a.at) - frame
			dst = append(dst, max(d, -d))
			continue
		}
		if gap := b.seq - a.seq; a.ssrc == b.ssrc && gap > 1 && gap < 1000 {
			gaps += uint64(gap - 1)
		}
	}
	return dst, gaps
}

// transitPairs is the transit of the relayed packets of one direction.
type transitPairs struct {
	transit, variation, change []time.Duration
	paired, unpaired           uint64
	// offsets are the sequence offsets (relayed - sent) in use, in order.
	offsets []uint16
}

// pairTransit matches each relayed packet to the packet the phone sent
// that it carries. The relay numbers its packets as the source does plus a
// constant, changed only when the source's stream restarts (see
// offsetFrom); a relayed packet whose source is not found, or would have
// been sent after it, has the constant worked out again from there.
func pairTransit(sent, relayed []rtpRec) transitPairs {
	var p transitPairs
	if len(sent) == 0 || len(relayed) == 0 {
		p.unpaired = uint64(len(relayed))
		return p
	}
	bySeq := make(map[uint16]int, len(sent))
	for i, s := range sent {
		bySeq[s.seq] = i
	}
	// match returns the sent packet of relayed packet k under offset off,
	// if it was sent before it and less than a second before.
	match := func(k int, off uint16) (int, bool) {
		j, ok := bySeq[relayed[k].seq-off]
		if !ok || !samePayload(relayed[k], sent[j]) {
			return 0, false
		}
		d := relayed[k].at - sent[j].at
		return j, d >= 0 && d < int64(time.Second)
	}
	var (
		off     uint16
		have    bool
		minT    = int64(1<<63 - 1)
		tr      = make([]int64, len(relayed))
		matched = make([]bool, len(relayed))
	)
	for k := range relayed {
		j, ok := 0, false
		if have {
			j, ok = match(k, off)
		}
		if !ok {
			if o, found := offsetFrom(sent, relayed[k:]); found {
				if j2, ok2 := match(k, o); ok2 {
					off, have, j, ok = o, true, j2, true
					p.offsets = append(p.offsets, off)
				}
			}
		}
		if !ok {
			p.unpaired++
			continue
		}
		p.paired++
		tr[k], matched[k] = relayed[k].at-sent[j].at, true
		minT = min(minT, tr[k])
		p.transit = append(p.transit, time.Duration(tr[k]))
		if k > 0 && matched[k-1] && consecutive(relayed[k-1], relayed[k]) {
			d := time.Duration(tr[k] - tr[k-1])
			p.change = append(p.change, max(d, -d))
		}
	}
	for _, t := range p.transit {
		p.variation = append(p.variation, t-time.Duration(minT))
	}
	return p
}

// offsetFrom works out the sequence offset (relayed - sent) of the first
// relayed packets given. Each relayed packet is compared with the last
// packet its phone sent before it with the same payload bytes: that is its
// source or, when the payload repeats, one sent after its source (the relay
// took longer than the repetition), which gives an offset smaller than the
// true one by as many packets. Over up to 50 packets, the largest offset
// found is thus the true one as soon as one of them was relayed before its
// payload came round again: at once with noise, whose packets all differ.
func offsetFrom(sent, relayed []rtpRec) (uint16, bool) {
	var (
		ref   uint16
		best  int16
		found bool
	)
	for _, r := range relayed[:min(len(relayed), 50)] {
		i := sortStart(sent, r.at+1) - 1
		for back := 0; i >= 0 && back < 50 && !samePayload(r, sent[i]); back++ {
			i--
		}
		if i < 0 || !samePayload(r, sent[i]) {
			continue
		}
		c := r.seq - sent[i].seq
		if !found {
			ref, found = c, true
			continue
		}
		best = max(best, int16(c-ref))
	}
	return ref + uint16(best), found
}

// notRelayed counts the packets sent within the window whose relayed copy
// is missing: their sequence number, shifted by the offset, is not among
// the relayed packets. Only the packets sent between the first relayed
// packet and 100 ms before the last are looked at (the others may be
// relayed outside the window), and only for a stream relayed with one
// offset throughout (a restarted stream is not followed packet by packet).
func notRelayed(sent, relayed []rtpRec, offsets []uint16) uint64 {
	if len(sent) == 0 || len(relayed) == 0 || len(offsets) != 1 {
		return 0
	}
	have := make(map[uint16]bool, len(relayed))
	for _, r := range relayed {
		have[r.seq] = true
	}
	first, last := relayed[0].at, relayed[len(relayed)-1].at-int64(100*time.Millisecond)
	var n uint64
	for _, s := range sent {
		if s.at >= first && s.at <= last && !have[s.seq+offsets[0]] {
			n++
		}
	}
	return n
}

package media

// The relay's jitter queue. What a source's peer sends arrives when the
// network and the peer's own scheduling let it, often bunched; the
// destination's pacer sends one 20 ms frame of it per tick, so the
// destination's peer gets an even stream whatever the source's timing.
//
// The queue is a byte ring of G.711 samples in arrival order: packets of
// any length go in whole and come out in frames of 160 samples, so 10, 30
// or 40 ms packets are re-framed to 20 ms. Its depth adapts to the source:
//
//   - It starts (and starts again after running dry) once relayStartFrames
//     frames are queued, or for packets longer than a frame the least level
//     a steady stream of them never lets fall below a frame at a tick
//     (packet + frame - gcd(packet, frame): two frames for 30 and 40 ms
//     packets, three for 60 ms). The first frame after a start has the
//     marker bit.
//   - A tick that finds less than a frame while playing is an underrun:
//     nothing is sent and the queue waits for the start level again. A
//     packet that came late is thus sent on the next tick with the
//     packets that followed it queued behind it: the depth grows by the
//     lateness seen.
//   - When for relayTrimTicks ticks in a row the queue held at least a
//     frame more than its start level, the oldest frame is dropped: the
//     latency comes back down once the source has kept time for that long.
//   - A packet that would take the queue beyond its start level plus
//     relaySpareFrames frames drops the oldest samples (a burst after a
//     stall, a source whose clock runs fast).
//   - Samples left short of a frame while the queue waits (the end of a
//     talkspurt of 30 ms packets) are dropped after relayStaleTicks ticks
//     without a packet, rather than played before the next talkspurt.
const (
	// relayQueueFrames is the ring's size: 120 ms, room for the start
	// level and spare frames of packets up to 60 ms.
	relayQueueFrames = 6
	relayQueueSize   = relayQueueFrames * samplesPerFrame
	// relayStartFrames is the start level for packets of a frame or less.
	relayStartFrames = 1
	// relaySpareFrames is how far above its start level the queue may
	// fill: the lateness it absorbs, and the latency it may add.
	relaySpareFrames = 2
	// relayTrimTicks is how long (5 s) the queue must keep a frame it did
	// not need before it drops one.
	relayTrimTicks = 250
	// relayStaleTicks is how long a part of a frame waits for the rest.
	relayStaleTicks = 5
)

// relayQueue is one relay direction's jitter queue. The source's receive
// goroutine pushes, the pacer pops; the link's mutex guards it.
type relayQueue struct {
	buf   [relayQueueSize]byte
	start int   // index of the oldest sample
	n     int   // samples queued
	codec Codec // the law of the samples queued

	playing bool // frames go out on each tick until an underrun
	packet  int  // samples of the last packet, which set level and limit
	level   int  // samples needed to start
	limit   int  // samples the queue holds at most after a packet
	low     int  // fewest samples at a tick of the current trim window
	ticks   int  // ticks of the current trim window
	stale   int  // ticks waiting since the last packet

	underruns, overflows, trims uint64
}

// push queues a packet's audio (G.711 in codec). It does not allocate.
func (q *relayQueue) push(payload []byte, codec Codec) {
	if len(payload) == 0 {
		return
	}
	if codec.Name != q.codec.Name {
		// The source changed law (a re-INVITE): what is queued is converted.
		if table, ok := transcodeTable(q.codec, codec); ok && table != nil {
			for i := range q.n {
				j := (q.start + i) % relayQueueSize
				q.buf[j] = table[q.buf[j]]
			}
		}
		q.codec = codec
	}
	if len(payload) != q.packet {
		q.setPacket(len(payload))
	}
	if len(payload) > q.limit {
		payload = payload[len(payload)-q.limit:]
	}
	if over := q.n + len(payload) - q.limit; over > 0 {
		q.start = (q.start + over) % relayQueueSize
		q.n -= over
		q.overflows++
	}
	end := (q.start + q.n) % relayQueueSize
	if k := copy(q.buf[end:], payload); k < len(payload) {
		copy(q.buf[:], payload[k:])
	}
	q.n += len(payload)
	q.stale = 0
}

// setPacket sets the start level and the limit for packets of n samples.
func (q *relayQueue) setPacket(n int) {
	q.packet = n
	q.level = min(max(relayStartFrames*samplesPerFrame, n+samplesPerFrame-gcd(n, samplesPerFrame)), relayQueueSize)
	q.limit = min(q.level+relaySpareFrames*samplesPerFrame, relayQueueSize)
}

// pop takes the frame of a tick into dst (samplesPerFrame bytes, in
// q.codec) and reports whether there was one, and whether it starts the
// queue's output again (the marker bit). It does not allocate.
func (q *relayQueue) pop(dst []byte) (ok, start bool) {
	if !q.playing {
		if q.n == 0 || q.n < q.level {
			if q.n > 0 {
				if q.stale++; q.stale > relayStaleTicks {
					q.start, q.n = 0, 0
				}
			}
			return false, false
		}
		q.playing, start = true, true
		q.low, q.ticks = relayQueueSize, 0
	} else if q.n < samplesPerFrame {
		q.playing = false
		q.underruns++
		return false, false
	}
	q.low = min(q.low, q.n)
	q.ticks++
	q.take(dst[:samplesPerFrame])
	if q.ticks >= relayTrimTicks {
		if q.low >= q.level+samplesPerFrame {
			q.drop(samplesPerFrame)
			q.trims++
		}
		q.low, q.ticks = relayQueueSize, 0
	}
	return true, start
}

// take moves len(dst) samples from the head of the queue into dst.
func (q *relayQueue) take(dst []byte) {
	if k := copy(dst, q.buf[q.start:]); k < len(dst) {
		copy(dst[k:], q.buf[:])
	}
	q.drop(len(dst))
}

// drop discards the n oldest samples.
func (q *relayQueue) drop(n int) {
	q.start = (q.start + n) % relayQueueSize
	q.n -= n
}

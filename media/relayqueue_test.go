package media

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// runQueueOps runs a script on q: "p7" pushes a 20 ms packet of byte 7,
// "p7/240" one of 240 samples; "t7" expects a tick to take a frame of byte
// 7 (first sample), "t7m" with the marker bit, "t7,8" a frame from 7 to 8
// (first and last samples), "t-" a tick with nothing to send; "x3" runs 3
// ticks expecting nothing. It fails the test at the first surprise.
func runQueueOps(t *testing.T, q *relayQueue, script string) {
	t.Helper()
	frame := make([]byte, samplesPerFrame)
	for i, op := range strings.Fields(script) {
		switch op[0] {
		case 'p':
			v, size, _ := strings.Cut(op[1:], "/")
			n := samplesPerFrame
			if size != "" {
				n, _ = strconv.Atoi(size)
			}
			b, _ := strconv.Atoi(v)
			q.push(slices.Repeat([]byte{byte(b)}, n), CodecPCMU)
		case 'x':
			n, _ := strconv.Atoi(op[1:])
			for range n {
				if ok, _ := q.pop(frame); ok {
					t.Fatalf("op %d (%s): a frame of %d", i, op, frame[0])
				}
			}
		case 't':
			ok, start := q.pop(frame)
			want := op[1:]
			if want == "-" {
				if ok {
					t.Fatalf("op %d (%s): a frame of %d", i, op, frame[0])
				}
				continue
			}
			marker := strings.HasSuffix(want, "m")
			want = strings.TrimSuffix(want, "m")
			first, last, two := strings.Cut(want, ",")
			if !two {
				last = first
			}
			f, _ := strconv.Atoi(first)
			l, _ := strconv.Atoi(last)
			switch {
			case !ok:
				t.Fatalf("op %d (%s): no frame (%d queued)", i, op, q.n)
			case frame[0] != byte(f) || frame[samplesPerFrame-1] != byte(l):
				t.Fatalf("op %d (%s): a frame from %d to %d", i, op, frame[0], frame[samplesPerFrame-1])
			case start != marker:
				t.Fatalf("op %d (%s): marker %v", i, op, start)
			}
		default:
			t.Fatalf("bad op %q", op)
		}
	}
}

func TestRelayQueue(t *testing.T) {
	tests := []struct {
		name                        string
		script                      string
		underruns, overflows, trims uint64
	}{
		{"starts at one frame", "t- p1 t1m p2 t2 p3 t3", 0, 0, 0},
		{"underrun sends nothing, resumes with the marker", "p1 t1m t- p2 t2m p3 t3", 1, 0, 0},
		// Packet 3 comes late: the tick it missed sends nothing, the next
		// sends it with 4 queued behind it, and the queue keeps that
		// frame of depth from then on.
		{"a late packet adds a frame of depth", "p1 t1m p2 t2 t- p3 p4 t3m p5 t4 p6 t5 p7 t6", 1, 0, 0},
		{"source silent, then a talkspurt", "p1 t1m p2 t2 t- t- t- t- p3 t3m", 1, 0, 0},
		// One frame to start, two spare: a burst of five keeps the
		// newest three.
		{"overflow drops the oldest", "p1 p2 p3 p4 p5 t3m t4 t5 t-", 1, 2, 0},
		{"overflow while playing", "p1 t1m p2 p3 p4 p5 t3 t4 t5 t-", 1, 1, 0},
		// 30 ms packets: two frames to start, then 20 ms frames across
		// packet boundaries, steady without an underrun.
		{"30 ms packets re-framed", "p1/240 t- p2/240 t1m t1,2 p3/240 t2 p4/240 t3 t3,4 p5/240 t4 p6/240 t5 t5,6", 0, 0, 0},
		// 10 ms packets: a frame to start, two packets a frame.
		{"10 ms packets re-framed", "p1/80 t- p2/80 t1,2m p3/80 p4/80 t3,4", 0, 0, 0},
		// Less than a frame left when the source stops is dropped after
		// 5 ticks without a packet, rather than played before the next
		// talkspurt.
		{"stale part of a frame dropped", "p1/240 p2/240 t1m t1,2 p3/240 t2 t3 t- x6 p4/240 p5/240 t4m", 1, 0, 0},
		{"part of a frame waits for the rest", "p1/240 p2/240 t1m t1,2 p3/240 t2 t3 t- x3 p4/240 p5/240 t3,4m", 1, 0, 0},
		{"oversized packet keeps its end", "p1/2000 t1m t1 t1 t1 t1 t1 t-", 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q relayQueue
			runQueueOps(t, &q, tt.script)
			if q.underruns != tt.underruns || q.overflows != tt.overflows || q.trims != tt.trims {
				t.Errorf("underruns %d, overflows %d, trims %d; want %d, %d, %d",
					q.underruns, q.overflows, q.trims, tt.underruns, tt.overflows, tt.trims)
			}
		})
	}
}

// A frame of depth the queue did not need for relayTrimTicks ticks is
// dropped; one it needed within them is kept.
func TestRelayQueueTrim(t *testing.T) {
	tests := []struct {
		name  string
		late  int // tick whose packet comes a tick late
		trims uint64
	}{
		{"unneeded frame trimmed", 2 * relayTrimTicks, 1},
		{"needed frame kept", relayTrimTicks / 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q relayQueue
			frame := make([]byte, samplesPerFrame)
			push := func(v int) { q.push(slices.Repeat([]byte{byte(v)}, samplesPerFrame), CodecPCMU) }
			// Two frames queued at the start: one more than needed.
			push(1)
			push(2)
			want, next := 1, 3
			for i := range relayTrimTicks {
				ok, _ := q.pop(frame)
				if !ok || frame[0] != byte(want) {
					t.Fatalf("tick %d: frame of %d (%v), want %d", i, frame[0], ok, want)
				}
				want++
				switch i {
				case tt.late:
				case tt.late + 1:
					push(next)
					push(next + 1)
					next += 2
				default:
					push(next)
					next++
				}
			}
			if q.trims != tt.trims {
				t.Fatalf("%d trims, want %d", q.trims, tt.trims)
			}
			if tt.trims == 1 {
				want++ // the oldest frame went
			}
			if ok, _ := q.pop(frame); !ok || frame[0] != byte(want) {
				t.Fatalf("after the window: frame of %d (%v), want %d", frame[0], ok, want)
			}
		})
	}
}

// A re-INVITE to another law converts what is queued.
func TestRelayQueueLawChange(t *testing.T) {
	var q relayQueue
	frame := make([]byte, samplesPerFrame)
	u := ulawFrame(0)
	q.push(u, CodecPCMU)
	q.push(ulawFrame(1), CodecPCMU)
	if ok, _ := q.pop(frame); !ok || !slices.Equal(frame, u) {
		t.Fatal("first frame not passed through")
	}
	a := ulawFrame(2)
	transcode(&ulawToAlaw, a)
	q.push(a, CodecPCMA)
	want := ulawFrame(1)
	transcode(&ulawToAlaw, want)
	if ok, _ := q.pop(frame); !ok || !slices.Equal(frame, want) || q.codec != CodecPCMA {
		t.Fatal("queued μ-law not converted to A-law")
	}
	if ok, _ := q.pop(frame); !ok || !slices.Equal(frame, a) {
		t.Fatal("A-law frame not passed through")
	}
}

// Whatever is pushed and popped, the queue holds the newest samples
// pushed, in order, never more than its limit; a frame taken is the oldest
// samples queued.
func FuzzRelayQueue(f *testing.F) {
	f.Add([]byte{40, 0, 40, 0, 0, 60, 60, 0, 0})
	f.Add([]byte{20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var q relayQueue
		var model []byte // every sample pushed, numbered
		var counter byte
		frame := make([]byte, samplesPerFrame)
		for i, o := range ops {
			if o == 0 {
				had := q.n
				if ok, _ := q.pop(frame); ok {
					oldest := model[len(model)-had:]
					if had < samplesPerFrame || !slices.Equal(frame, oldest[:samplesPerFrame]) {
						t.Fatalf("op %d: frame is not the oldest samples queued", i)
					}
				}
			} else {
				p := make([]byte, int(o)*4)
				for j := range p {
					counter++
					p[j] = counter
				}
				q.push(p, CodecPCMU)
				model = append(model, p...)
			}
			if q.n < 0 || q.n > q.limit || q.limit > relayQueueSize || q.n > len(model) {
				t.Fatalf("op %d: %d queued, limit %d", i, q.n, q.limit)
			}
			newest := model[len(model)-q.n:]
			for j := range q.n {
				if q.buf[(q.start+j)%relayQueueSize] != newest[j] {
					t.Fatalf("op %d: sample %d of the queue is not the newest pushed", i, j)
				}
			}
		}
	})
}

// BenchmarkRelayQueue is the queue's own share of a relayed packet: one
// push and one pop.
func BenchmarkRelayQueue(b *testing.B) {
	var q relayQueue
	payload := ulawFrame(0)
	frame := make([]byte, samplesPerFrame)
	b.ReportAllocs()
	for b.Loop() {
		q.push(payload, CodecPCMU)
		q.pop(frame)
	}
}

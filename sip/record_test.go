package sip

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
)

// frameSink keeps what a recording writes.
type frameSink struct {
	mu            sync.Mutex
	caller, other []int16
}

func (s *frameSink) WriteFrames(caller, other []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caller = append(s.caller, caller...)
	s.other = append(s.other, other...)
	return nil
}

// snapshot returns the samples received so far and how many of the right
// channel's are not zero.
func (s *frameSink) snapshot() (samples, sound int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.other {
		if v != 0 {
			sound++
		}
	}
	return len(s.caller), sound
}

type recordStart struct {
	rec ivr.Recorder
	at  time.Time
	err error
}

// TestRecord: a call records from the moment the handler asks, frames
// reach the sink while the call goes on, the recording ends with the
// caller's BYE, and Stop afterwards flushes and returns.
func TestRecord(t *testing.T) {
	tone := writeTone(t, 5*time.Second)
	sink := &frameSink{}
	started := make(chan recordStart, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		rc, ok := call.(ivr.Recordable)
		if !ok {
			started <- recordStart{err: errors.New("call is not ivr.Recordable")}
			return
		}
		if _, err := rc.Record(ctx, sink); !errors.Is(err, media.ErrNotStarted) {
			started <- recordStart{err: errors.New("Record before Answer did not fail")}
			return
		}
		if err := call.Answer(ctx); err != nil {
			started <- recordStart{err: err}
			return
		}
		if _, err := call.Play(ctx, []ivr.Audio{{Path: tone}}); err != nil {
			started <- recordStart{err: err}
			return
		}
		at := time.Now()
		rec, err := rc.Record(ctx, sink)
		started <- recordStart{rec: rec, at: at, err: err}
		<-ctx.Done()
	})
	ua, err := siptest.NewUA(s.Addr("udp").(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "800", siptest.WithSilence())
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	defer c.Close()
	var st recordStart
	select {
	case st = <-started:
	case <-ctx.Done():
		t.Fatal("handler did not start recording")
	}
	if st.err != nil {
		t.Fatal(st.err)
	}

	// Frames arrive while the call goes on: the first 500 ms chunk, the
	// prompt on the right channel.
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, sound := sink.snapshot()
		if n > 0 && sound > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d samples, %d with sound on the right", n, sound)
		}
		time.Sleep(20 * time.Millisecond)
	}

	byeAt := time.Now()
	if err := c.Bye(ctx); err != nil {
		t.Fatalf("bye: %v", err)
	}
	byeDone := time.Now()
	waitIdle(t, s) // the handler returned and the session is closed
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer stopCancel()
	if err := st.rec.Stop(stopCtx); err != nil {
		t.Fatalf("stop after BYE: %v", err)
	}
	if err := st.rec.Stop(stopCtx); err != nil {
		t.Fatalf("second stop: %v", err)
	}

	n, _ := sink.snapshot()
	got := time.Duration(n) * time.Second / 8000
	if lo, hi := byeAt.Sub(st.at)-40*time.Millisecond, byeDone.Sub(st.at)+40*time.Millisecond; got < lo || got > hi {
		t.Errorf("recording lasts %v, want between %v and %v (record to BYE)", got, lo, hi)
	}
	rs := st.rec.(*recorder).Stats()
	if frames := uint64(n / 160); rs.Frames != frames || rs.CallerLate > frames/4 {
		t.Errorf("stats %+v for %d frames: the caller's RTP did not reach the recording", rs, frames)
	}
}

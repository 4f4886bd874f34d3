package ivrtest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr/ivrtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClockFiresInOrder(t *testing.T) {
	c := ivrtest.NewClock(time.Time{})
	var got []string
	c.AfterFunc(3*time.Second, func() { got = append(got, "c") })
	c.AfterFunc(1*time.Second, func() { got = append(got, "a") })
	stop := c.AfterFunc(2*time.Second, func() { got = append(got, "stopped") })
	c.AfterFunc(1*time.Second, func() { got = append(got, "b") }) // same time: scheduling order
	if !stop() {
		t.Fatal("stop of a pending func reported false")
	}
	c.Advance(2 * time.Second)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after 2s fired %v, want [a b]", got)
	}
	if e := c.Elapsed(); e != 2*time.Second {
		t.Fatalf("elapsed %v, want 2s", e)
	}
	if d, ok := c.Pending(); !ok || d != time.Second {
		t.Fatalf("pending %v %v, want 1s", d, ok)
	}
	if !c.Step() || !slices.Equal(got, []string{"a", "b", "c"}) || c.Elapsed() != 3*time.Second {
		t.Fatalf("step fired %v at %v", got, c.Elapsed())
	}
	if c.Step() {
		t.Fatal("step with nothing scheduled reported true")
	}
}

func TestClockTimer(t *testing.T) {
	c := ivrtest.NewClock(time.Time{})
	tm := c.NewTimer(5 * time.Second)
	c.Advance(4 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	default:
	}
	c.Advance(time.Second)
	select {
	case at := <-tm.C():
		if !at.Equal(ivrtest.Epoch.Add(5 * time.Second)) {
			t.Fatalf("fired at %v", at)
		}
	default:
		t.Fatal("timer did not fire")
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported true")
	}
}

func TestClockBlockUntil(t *testing.T) {
	c := ivrtest.NewClock(time.Time{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		<-c.NewTimer(time.Second).C()
	}()
	<-started
	if err := c.BlockUntil(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	<-done

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.BlockUntil(ctx, 1); err == nil {
		t.Fatal("BlockUntil with no timer and a done context returned nil")
	}
}

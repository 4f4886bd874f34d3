package media

import (
	"errors"
	"testing"
	"time"
)

// The ticker wakes at start + k*period, never before (the pacer would
// find no tick due), and a close ends a wait.
func TestTicker(t *testing.T) {
	const period = 10 * time.Millisecond
	start := time.Now().Add(5 * time.Millisecond)
	tk, err := newTicker(start, period)
	if err != nil {
		t.Fatal(err)
	}
	defer tk.release()
	var buf [8]byte
	for k := range 5 {
		if err := tk.wait(&buf); err != nil {
			t.Fatal(err)
		}
		// The wake-up falls in the tick's period: not before its deadline
		// (the clock conversion allows a few microseconds), and not a whole
		// period after it on a machine with room to run the test.
		at := time.Since(start) - time.Duration(k)*period
		if at < -50*time.Microsecond || at > 20*period {
			t.Errorf("tick %d woke %v from its deadline", k, at)
		}
	}
	done := make(chan error, 1)
	go func() { done <- tk.wait(&buf) }()
	time.Sleep(2 * time.Millisecond)
	if err := tk.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		// The wait either got its tick first or saw the close.
		if err != nil && !errors.Is(err, errTickerClosed) {
			t.Errorf("wait after close: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("close did not end the wait")
	}
	if err := tk.wait(&buf); !errors.Is(err, errTickerClosed) {
		t.Errorf("wait on a closed ticker: %v, want errTickerClosed", err)
	}
}

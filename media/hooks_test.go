package media

import (
	"errors"
	"testing"
	"time"
)

// With hooks, key presses and the session's end reach the driver without a
// goroutine of its own, and the DTMF channel stays empty.
func TestSessionHooks(t *testing.T) {
	const timeout = 200 * time.Millisecond
	e := newTestEndpoint(t, timeout)
	peer := newTestPeer(t)
	s, err := e.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	keys := make(chan DTMFEvent, 8)
	ended := make(chan error, 2)
	s.SetHooks(Hooks{
		DTMF: func(ev DTMFEvent) { keys <- ev },
		End:  func(err error) { ended <- err },
	})
	if err := s.Start(peer.addr(), CodecPCMU, 101); err != nil {
		t.Fatal(err)
	}
	var seq uint16
	peer.sendKey(s.LocalAddr(), 101, &seq, 1000, 5, false)
	var got []rune
	for len(got) < 2 {
		if len(got) == 1 {
			s.InjectDTMF('#', ViaInfo)
		}
		select {
		case ev := <-keys:
			got = append(got, ev.Digit)
		case <-time.After(time.Second):
			t.Fatalf("hook got %q, want 2 keys", string(got))
		}
	}
	if string(got) != "5#" {
		t.Errorf("hook got %q, want 5#", string(got))
	}
	select {
	case ev := <-s.DTMF():
		t.Errorf("key %q on the channel with a DTMF hook set", ev.Digit)
	default:
	}
	select {
	case err := <-ended:
		if !errors.Is(err, ErrMediaTimeout) {
			t.Errorf("End hook got %v, want ErrMediaTimeout", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("End hook not called after the media timeout")
	}
	s.Close()
	select {
	case err := <-ended:
		t.Errorf("End hook called twice (again with %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	if st := s.Stats(); st.DTMF != 2 {
		t.Errorf("stats count %d keys, want 2", st.DTMF)
	}
}

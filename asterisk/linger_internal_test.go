package asterisk

import (
	"log/slog"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"go.uber.org/goleak"
)

// A call continued in the dialplan with a recording running lingers after
// its handler returned: its recording goes on until the call is gone, which
// the driver learns from the caller's channel, from the end of the
// recording's snoop channels, or by stopping; then the recording is
// stopped and its files brought home. A call that did not go on in the
// dialplan is gone, and its recording stopped, as its handler returns.
func TestLingeringCallGone(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	wav := riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", pcmBytes(ramp(1600, 1))})
	tests := []struct {
		name        string
		transferred bool
		end         func(d *Driver, c *call, r *recorder) // what tells the driver the call is gone
	}{
		{"caller's channel destroyed", true, func(d *Driver, c *call, _ *recorder) {
			d.dispatch(&ari.ChannelDestroyed{Channel: ari.ChannelData{ID: c.id}})
		}},
		{"caller's channel hung up", true, func(d *Driver, c *call, _ *recorder) {
			d.dispatch(&ari.ChannelHangupRequest{Channel: ari.ChannelData{ID: c.id}})
		}},
		{"snoop channel ended", true, func(d *Driver, _ *call, r *recorder) {
			d.dispatch(&ari.StasisEnd{Channel: ari.ChannelData{ID: r.legs[1].name}})
		}},
		{"driver stops", true, func(d *Driver, _ *call, _ *recorder) { d.stop() }},
		{"not continued in the dialplan", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := storedFiles(t, map[string][]byte{
				recordingName("ivrd", "ch-1", 1, spyIn):  wav,
				recordingName("ivrd", "ch-1", 1, spyOut): wav,
			})
			c := newCall(d, &ari.StasisStart{Channel: ari.ChannelData{ID: "ch-1", State: "Up"}}, slog.New(slog.DiscardHandler))
			sink := &frameSink{}
			r := &recorder{c: c, sink: sink, log: c.log, begun: time.Now()}
			for i, spy := range [2]string{spyIn, spyOut} {
				r.legs[i] = newLeg(recordingName("ivrd", "ch-1", 1, spy), spy)
				r.legs[i].r = r
				r.legs[i].finished.fire()
			}
			d.addLegs(r.legs[:])
			c.recorders = []*recorder{r}
			c.transferred = tt.transferred
			d.mu.Lock()
			d.calls[c.id] = c
			d.mu.Unlock()
			d.handlers.Add(1)
			func() { // the end of serve once the handler returned
				defer d.handlers.Done()
				defer d.remove(c)
				defer c.end(ErrHungUp)
				d.release(c)
			}()

			if tt.end != nil {
				if closed(c.Gone()) {
					t.Fatal("Gone closed as the handler returned; want the call to linger")
				}
				if d.ActiveCalls() != 0 {
					t.Errorf("ActiveCalls = %d with a lingering call, want 0", d.ActiveCalls())
				}
				// The recording's own end is not the call's.
				d.snoopEnded("unknown")
				tt.end(d, c, r)
			}
			select {
			case <-c.Gone():
			case <-time.After(5 * time.Second):
				t.Fatal("Gone never closed")
			}
			d.handlers.Wait() // the driver's stop of the recording
			if err := r.Stop(t.Context()); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if len(sink.left) != 1600 || len(sink.right) != 1600 {
				t.Errorf("sink got %d/%d samples, want the 1600 of each file once", len(sink.left), len(sink.right))
			}
			d.mu.Lock()
			n := len(d.lingering)
			d.mu.Unlock()
			if n != 0 {
				t.Errorf("%d calls still lingering", n)
			}
		})
	}
}

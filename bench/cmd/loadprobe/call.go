package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ivrd/ivrd/sip/siptest"
)

// frame is the packet time ivrd paces its RTP at.
const frame = 20 * time.Millisecond

// callResult is what one probe call measured.
type callResult struct {
	Deltas   []time.Duration // |arrival interval - 20ms| of consecutive packets
	Packets  int             // RTP packets received
	Lost     int             // sequence numbers skipped inside talkspurts
	Spurts   int             // packets with the marker bit
	Err      error
	Answered bool
}

// errNoTimestamps: without kernel receive timestamps the probe's own
// scheduling delays would count as ivrd's jitter.
var errNoTimestamps = errors.New("no kernel receive timestamps on the RTP socket")

// probeCall places one call, presses 1 after dtmfAfter, records the arrival
// times of ivrd's RTP for listen, then hangs up.
func probeCall(ctx context.Context, ua *siptest.UA, number string, dtmfAfter, listen time.Duration) (res callResult) {
	inviteCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := ua.Invite(inviteCtx, number, siptest.WithUser("probe"))
	cancel()
	if err != nil {
		res.Err = err
		return res
	}
	defer c.Close()
	res.Answered = true
	defer func() {
		// Hang up even when the run is being cancelled, bounded.
		byeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if err := c.Bye(byeCtx); err != nil && res.Err == nil {
			res.Err = err
		}
	}()
	if !c.KernelTimestamps() {
		res.Err = errNoTimestamps
		return res
	}

	// Press 1 (RFC 4733) from the RTP socket, the address offered in SDP.
	keyCtx, stopKey := context.WithCancel(ctx)
	pressed := make(chan struct{})
	go func() {
		defer close(pressed)
		select {
		case <-keyCtx.Done():
			return
		case <-time.After(dtmfAfter):
		}
		_, _ = c.SendDTMF(keyCtx, '1', 2)
	}()
	defer func() { stopKey(); <-pressed }()

	if err := res.receive(c, listen); err != nil {
		res.Err = err
	}
	return res
}

// receive reads RTP until listen has passed and records, for each packet
// that follows the previous one in the same talkspurt, how far its arrival
// interval is from 20 ms. Arrival is the kernel receive timestamp.
func (res *callResult) receive(c *siptest.Call, listen time.Duration) error {
	if err := c.SetRTPDeadline(time.Now().Add(listen)); err != nil {
		return fmt.Errorf("receive rtp: %w", err)
	}
	buf := make([]byte, 1500)
	var (
		have    bool
		lastSeq uint16
		lastTS  uint32
		lastAt  time.Time
	)
	for {
		p, err := c.ReadRTP(buf)
		if err != nil {
			return nil // the listening window is over
		}
		if p.PayloadType == siptest.PayloadTelephoneEvent {
			continue
		}
		res.Packets++
		if p.Marker {
			res.Spurts++
		}
		if have && !p.Marker {
			gap := p.SequenceNumber - lastSeq
			switch {
			case gap == 1 && p.Timestamp-lastTS == 160:
				dt := p.At.Sub(lastAt) - frame
				res.Deltas = append(res.Deltas, max(dt, -dt))
			case gap > 1 && gap < 1000:
				res.Lost += int(gap - 1)
			}
		}
		have, lastSeq, lastTS, lastAt = true, p.SequenceNumber, p.Timestamp, p.At
	}
}

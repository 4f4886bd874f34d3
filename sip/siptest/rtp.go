package siptest

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ivrd/ivrd/media"
)

const (
	// frame is the packet time of the caller's stream.
	frame = 20 * time.Millisecond
	// samplesPerFrame is one frame of 8 kHz audio.
	samplesPerFrame = 160
	// PayloadPCMU is the static payload type of G.711 μ-law.
	PayloadPCMU = 0
	// PayloadTelephoneEvent is the RFC 4733 payload type the caller offers.
	PayloadTelephoneEvent = 101
	// dtmfVolume is the volume of the caller's keys, -10 dBm0.
	dtmfVolume = 10
	// toneAmplitude is a sine at about -10 dBm0 in 16-bit linear.
	toneAmplitude = 7500
)

// Packet is one RTP packet received from the server.
type Packet struct {
	media.RTPHeader
	// Payload is a sub-slice of the buffer given to ReadRTP.
	Payload []byte
	// At is the kernel's receive time of the datagram where the platform
	// has one (see Call.KernelTimestamps), else the time the read returned.
	At time.Time
}

// KernelTimestamps reports whether Packet.At comes from the kernel
// (SO_TIMESTAMPNS) rather than from time.Now after the read.
func (c *Call) KernelTimestamps() bool { return c.stamps }

// SetRTPDeadline sets the deadline of ReadRTP, as net.Conn.SetReadDeadline.
func (c *Call) SetRTPDeadline(t time.Time) error { return c.rtp.SetReadDeadline(t) }

// ReadRTP returns the next RTP packet from the server, skipping datagrams
// that are not RTP. It blocks until a packet arrives, the deadline set with
// SetRTPDeadline passes or the call is closed. One goroutine at a time may
// read.
func (c *Call) ReadRTP(buf []byte) (Packet, error) {
	for {
		var (
			n   int
			at  time.Time
			ok  bool
			err error
		)
		if c.stamps {
			var oobn int
			n, oobn, _, _, err = c.rtp.ReadMsgUDPAddrPort(buf, c.oob)
			if err == nil {
				at, ok = rxTimestamp(c.oob[:oobn])
			}
		} else {
			n, _, err = c.rtp.ReadFromUDPAddrPort(buf)
		}
		if !ok {
			at = time.Now()
		}
		if err != nil {
			return Packet{}, fmt.Errorf("read rtp: %w", err)
		}
		h, payload, err := media.ParseRTP(buf[:n])
		if err != nil {
			continue
		}
		return Packet{RTPHeader: h, Payload: payload, At: at}, nil
	}
}

// SendDTMF presses digit as RFC 4733 telephone-events on the call's RTP
// stream: the first packet with the marker bit, then updates more every
// 20 ms, all with the event's start timestamp, then 20 ms later the end
// packet three times. Silence frames pause meanwhile. Once the end packets
// are sent it returns the time the first packet left. If ctx is done early the
// end packets go at once and ctx's error is returned.
func (c *Call) SendDTMF(ctx context.Context, digit rune, updates int) (time.Time, error) {
	event, ok := media.DigitEvent(digit)
	if !ok {
		return time.Time{}, fmt.Errorf("send dtmf %q: %w", digit, ErrBadDigit)
	}
	c.sendMu.Lock()
	c.quiet = true
	start := c.ts
	first, err := c.writeRTP(true, PayloadTelephoneEvent, start, event, false, samplesPerFrame)
	c.sendMu.Unlock()
	if err != nil {
		c.endDTMF(event, start, samplesPerFrame)
		return first, fmt.Errorf("send dtmf: %w", err)
	}
	dur := uint16(samplesPerFrame)
	for range updates {
		if err := sleep(ctx, frame); err != nil {
			c.endDTMF(event, start, dur)
			return first, fmt.Errorf("send dtmf: %w", err)
		}
		dur += samplesPerFrame
		c.sendMu.Lock()
		if _, werr := c.writeRTP(false, PayloadTelephoneEvent, start, event, false, dur); werr != nil {
			err = werr
		}
		c.sendMu.Unlock()
	}
	werr := sleep(ctx, frame)
	if werr == nil {
		dur += samplesPerFrame
	}
	if eerr := c.endDTMF(event, start, dur); err == nil {
		err = eerr
	}
	if werr != nil {
		err = werr
	}
	if err != nil {
		return first, fmt.Errorf("send dtmf: %w", err)
	}
	return first, nil
}

// endDTMF sends the end packet of an event three times (RFC 4733 section
// 2.5.1.4) and resumes the stream after the event.
func (c *Call) endDTMF(event uint8, start uint32, dur uint16) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	var err error
	for range 3 {
		if _, werr := c.writeRTP(false, PayloadTelephoneEvent, start, event, true, dur); werr != nil {
			err = werr
		}
	}
	c.ts = start + uint32(dur)
	c.quiet = false
	return err
}

// writeRTP sends one telephone-event packet of our stream; sendMu must be
// held. It returns when the packet was handed to the kernel.
func (c *Call) writeRTP(marker bool, pt uint8, ts uint32, event uint8, end bool, dur uint16) (time.Time, error) {
	var b [media.RTPHeaderSize + 4]byte
	h := media.RTPHeader{Marker: marker, PayloadType: pt, SequenceNumber: c.seq, Timestamp: ts, SSRC: c.ssrc}
	if _, err := h.MarshalTo(b[:]); err != nil {
		return time.Time{}, err
	}
	pkt := media.AppendDTMFPayload(b[:media.RTPHeaderSize], event, end, dtmfVolume, dur)
	c.seq++
	at := time.Now()
	if _, err := c.rtp.WriteToUDPAddrPort(pkt, c.remoteRTP); err != nil {
		return at, fmt.Errorf("write rtp: %w", err)
	}
	return at, nil
}

// sendSilence sends a PCMU frame every 20 ms, silence or the call's tone,
// except while a key is being sent.
func (c *Call) sendSilence() {
	defer c.wg.Done()
	tick := time.NewTicker(frame)
	defer tick.Stop()
	pkt := make([]byte, media.RTPHeaderSize+samplesPerFrame)
	for i := media.RTPHeaderSize; i < len(pkt); i++ {
		pkt[i] = 0xFF // μ-law zero
	}
	var samples [samplesPerFrame]int16
	var n int // samples of the tone sent so far
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if c.opts.tone > 0 {
			for i := range samples {
				samples[i] = int16(toneAmplitude * math.Sin(2*math.Pi*c.opts.tone*float64(n+i)/8000))
			}
			n += samplesPerFrame
			media.EncodeUlaw(pkt[media.RTPHeaderSize:], samples[:])
		}
		c.sendMu.Lock()
		if !c.quiet {
			h := media.RTPHeader{PayloadType: PayloadPCMU, SequenceNumber: c.seq, Timestamp: c.ts, SSRC: c.ssrc}
			_, _ = h.MarshalTo(pkt)
			_, _ = c.rtp.WriteToUDPAddrPort(pkt, c.remoteRTP)
			c.seq++
			c.ts += samplesPerFrame
		}
		c.sendMu.Unlock()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

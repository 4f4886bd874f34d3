package sip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
	"github.com/ivrd/ivrd/sip/siptest"
)

// sdpPCMA is the phone's answer with A-law only.
func (p *phone) sdpPCMA() []byte {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	return []byte(fmt.Sprintf("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", port))
}

// talk sends an A-law tone from the phone's RTP socket to dst every 20 ms
// and records what comes back, decoded, until stop is closed.
func (p *phone) talk(dst netip.AddrPort, freq float64, stop <-chan struct{}) (heard func() []int16, wait func()) {
	var (
		mu  sync.Mutex
		got []int16
		wg  sync.WaitGroup
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := make([]byte, media.RTPHeaderSize+160)
		samples := make([]int16, 160)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i := range samples {
				samples[i] = int16(7500 * math.Sin(2*math.Pi*freq*float64(n*160+i)/8000))
			}
			h := media.RTPHeader{PayloadType: 8, SequenceNumber: uint16(n), Timestamp: uint32(n * 160), SSRC: 0xa1a1}
			h.MarshalTo(pkt)
			media.EncodeAlaw(pkt[media.RTPHeaderSize:], samples)
			p.rtp.WriteToUDPAddrPort(pkt, dst)
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			p.rtp.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, _, err := p.rtp.ReadFromUDPAddrPort(buf)
			select {
			case <-stop:
				return
			default:
			}
			if err != nil {
				continue
			}
			h, payload, err := media.ParseRTP(buf[:n])
			if err != nil || h.PayloadType != 8 {
				continue
			}
			pcm := make([]int16, len(payload))
			media.DecodeAlaw(pcm, payload)
			mu.Lock()
			got = append(got, pcm...)
			mu.Unlock()
		}
	}()
	return func() []int16 {
		mu.Lock()
		defer mu.Unlock()
		return append([]int16(nil), got...)
	}, wg.Wait
}

// TestBridgeTranscodes: a μ-law caller bridged to an A-law phone hears the
// phone's tone and the phone the caller's; the agent's BYE ends Bridge
// with nil.
func TestBridgeTranscodes(t *testing.T) {
	p := newPhone(t)
	bridged := make(chan error, 1)
	legs := make(chan ivr.Ringing, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			bridged <- err
			return
		}
		r, err := call.(ivr.Dialer).Dial(ctx, ivr.DialRequest{Offer: ivr.Offer{Phone: p.uri()}, Contact: testContact(), Timeout: 5 * time.Second})
		if err != nil {
			bridged <- err
			return
		}
		legs <- r
		// Bridging a ringing leg is refused.
		if err := call.(ivr.Bridger).Bridge(ctx, r); !errors.Is(err, ErrNotAnswered) {
			t.Errorf("Bridge(ringing) = %v, want %v", err, ErrNotAnswered)
		}
		select {
		case <-r.Answered():
		case <-r.Done():
			bridged <- r.Err()
			return
		}
		bridged <- call.(ivr.Bridger).Bridge(ctx, r)
	})
	ua, err := siptest.NewUA(netip.MustParseAddrPort(s.Addr("udp").String()))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ua.Invite(ctx, "100", siptest.WithTone(callerTone))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	inv, from := p.request(sipmsg.INVITE, 3*time.Second)
	offer, err := parseSDP(inv.Body())
	if err != nil {
		t.Fatal(err)
	}
	leg := <-legs
	p.respond(inv, from, 200, "OK", p.sdpPCMA())
	p.request(sipmsg.ACK, 3*time.Second)
	waitAnswered(t, leg, 3*time.Second)
	stop := make(chan struct{})
	heard, wait := p.talk(netip.AddrPortFrom(offer.Addr, offer.Port), agentTone, stop)

	var got []int16
	buf := make([]byte, 1500)
	c.SetRTPDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 8000 {
		pk, err := c.ReadRTP(buf)
		if err != nil {
			t.Fatalf("caller: %v", err)
		}
		if pk.PayloadType != siptest.PayloadPCMU {
			t.Fatalf("caller got payload type %d", pk.PayloadType)
		}
		pcm := make([]int16, len(pk.Payload))
		media.DecodeUlaw(pcm, pk.Payload)
		got = append(got, pcm...)
	}
	close(stop)
	wait()
	if share := siptest.ToneShare(got, agentTone); share < 0.8 {
		t.Errorf("caller: %v Hz share %.2f", agentTone, share)
	}
	if h := heard(); len(h) < 6000 || siptest.ToneShare(h, callerTone) < 0.8 {
		t.Errorf("phone: %d samples, %v Hz share %.2f", len(h), callerTone, siptest.ToneShare(h, callerTone))
	}

	// The agent hangs up: Bridge returns nil, the caller stays up.
	inv.To().Params.Add("tag", p.tag)
	p.inDialog(inv, from, sipmsg.BYE, 1, nil)
	p.response(1, 3*time.Second)
	select {
	case err := <-bridged:
		if err != nil {
			t.Errorf("Bridge = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Bridge did not return")
	}
	// The handler returned: ivrd hangs up the caller.
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Error("caller not hung up")
	}
	waitIdle(t, s)
}

// otherLeg is a leg of no driver.
type otherLeg struct{ done chan struct{} }

func (l otherLeg) Done() <-chan struct{}                { return l.done }
func (l otherLeg) Hangup(context.Context, string) error { return nil }

// TestBridgeRefuses: a leg the driver cannot bridge is refused at once.
func TestBridgeRefuses(t *testing.T) {
	errs := make(chan error, 1)
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		if err := call.Answer(ctx); err != nil {
			errs <- err
			return
		}
		errs <- call.(ivr.Bridger).Bridge(ctx, otherLeg{done: make(chan struct{})})
	})
	c := newRawClient(t, s)
	branch := c.invite("refuse-1")
	res := c.final("refuse-1", 3*time.Second)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v", res)
	}
	c.ack(res, branch)
	if err := <-errs; !errors.Is(err, ivr.ErrCannotBridge) || !strings.Contains(err.Error(), "otherLeg") {
		t.Errorf("Bridge = %v, want %v", err, ivr.ErrCannotBridge)
	}
	if bye := c.request(sipmsg.BYE, 3*time.Second); bye != nil {
		c.respondOK(bye)
	}
	waitIdle(t, s)
}

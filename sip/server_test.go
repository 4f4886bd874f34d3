package sip

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs to the test output when -v is given, else discards:
// the driver is chatty at debug level.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// mediaPorts hands each test its own RTP port range, so that parallel
// packages and tests do not fight over ports.
var mediaPorts atomic.Int32

// mediaBase is the first port of a new 200-port range, in 40000-59999:
// the ranges come round again after 100 servers (with -count, or the
// torture test's server per message), by when the first are long closed.
func mediaBase() int {
	return 40000 + int(mediaPorts.Add(1)-1)%100*200
}

// startServer runs a Server on 127.0.0.1 random ports (UDP and TCP) until
// the test ends.
func startServer(t *testing.T, handler func(context.Context, ivr.Call), opts ...func(*Config)) *Server {
	t.Helper()
	log := testLogger(t)
	base := mediaBase()
	ep, err := media.NewEndpoint(media.EndpointConfig{
		IP:      netip.MustParseAddr("127.0.0.1"),
		PortMin: base,
		PortMax: base + 198,
		Logger:  log,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		UDPAddr: "127.0.0.1:0",
		TCPAddr: "127.0.0.1:0",
		Media:   ep,
		Logger:  log,
		Handler: handler,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := s.Close(closeCtx); err != nil {
			t.Errorf("close server: %v", err)
		}
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
		ep.Close()
	})
	return s
}

// writeTone writes a WAV of a 440 Hz tone.
func writeTone(t *testing.T, d time.Duration) string {
	t.Helper()
	samples := make([]int16, int(d.Seconds()*8000))
	for i := range samples {
		samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	path := filepath.Join(t.TempDir(), "tone.wav")
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, samples, 8000, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawClient speaks SIP over a plain UDP socket, for messages no well-behaved
// user agent would send.
type rawClient struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
}

func newRawClient(t *testing.T, s *Server) *rawClient {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, srv: s.Addr("udp").(*net.UDPAddr)}
}

func (c *rawClient) addr() string { return c.conn.LocalAddr().String() }

func (c *rawClient) send(msg string) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDP([]byte(msg), c.srv); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message, or nil after timeout.
func (c *rawClient) read(timeout time.Duration) sipmsg.Message {
	c.t.Helper()
	buf := make([]byte, 65535)
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	msg, err := sipmsg.NewParser().ParseSIP(buf[:n])
	if err != nil {
		c.t.Fatalf("parse message from server: %v\n%s", err, buf[:n])
	}
	return msg
}

// final reads until a final response of the call, skipping provisional
// ones and responses to other messages.
func (c *rawClient) final(callID string, timeout time.Duration) *sipmsg.Response {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		msg := c.read(time.Until(deadline))
		res, ok := msg.(*sipmsg.Response)
		if !ok || res.StatusCode < 200 {
			continue
		}
		id := ""
		if h := res.CallID(); h != nil {
			id = h.Value()
		}
		if id != callID {
			continue
		}
		return res
	}
	return nil
}

// request reads until a request of the method.
func (c *rawClient) request(method sipmsg.RequestMethod, timeout time.Duration) *sipmsg.Request {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if req, ok := c.read(time.Until(deadline)).(*sipmsg.Request); ok && req.Method == method {
			return req
		}
	}
	return nil
}

var rawSeq atomic.Int64

// options sends an OPTIONS and returns the final response code, 0 if none.
func (c *rawClient) options() int {
	c.t.Helper()
	n := rawSeq.Add(1)
	c.send(fmt.Sprintf("OPTIONS sip:ivrd@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-opt-%d;rport\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=p%d\r\nTo: <sip:ivrd@127.0.0.1>\r\n"+
		"Call-ID: options-%d@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		c.srv, c.addr(), n, n, n))
	if res := c.final(fmt.Sprintf("options-%d@test", n), 2*time.Second); res != nil {
		return res.StatusCode
	}
	return 0
}

// invite sends an INVITE with a PCMU offer and returns its branch and
// Call-ID.
func (c *rawClient) invite(callID string) string {
	c.t.Helper()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
	branch := fmt.Sprintf("z9hG4bK-inv-%d", rawSeq.Add(1))
	c.send(fmt.Sprintf("INVITE sip:800@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
		"From: <sip:100@127.0.0.1>;tag=raw\r\nTo: <sip:800@127.0.0.1>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:100@%s>\r\nMax-Forwards: 70\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		c.srv, c.addr(), branch, callID, c.addr(), len(sdp), sdp))
	return branch
}

// ack acknowledges a final response to the INVITE of branch (same branch
// for non-2xx, a new one for 2xx as RFC 3261 section 17.1.1.3 and 13.2.2.4).
func (c *rawClient) ack(res *sipmsg.Response, branch string) {
	c.t.Helper()
	if res.StatusCode < 300 {
		branch = fmt.Sprintf("z9hG4bK-ack-%d", rawSeq.Add(1))
	}
	c.send(fmt.Sprintf("ACK sip:800@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
		"From: <sip:100@127.0.0.1>;tag=raw\r\n%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		c.srv, c.addr(), branch, res.To().String(), res.CallID().Value()))
}

// respondOK answers a request from the server with 200.
func (c *rawClient) respondOK(req *sipmsg.Request) {
	c.t.Helper()
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
	c.send(res.String())
}

func TestOptions(t *testing.T) {
	s := startServer(t, func(context.Context, ivr.Call) {})
	c := newRawClient(t, s)
	if code := c.options(); code != 200 {
		t.Fatalf("OPTIONS = %d, want 200", code)
	}
}

func TestValidation(t *testing.T) {
	s := startServer(t, func(context.Context, ivr.Call) {})
	c := newRawClient(t, s)
	base := func(first string, hdrs ...string) string {
		n := rawSeq.Add(1)
		all := []string{
			fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-val-%d;rport", c.addr(), n),
			"From: <sip:a@127.0.0.1>;tag=v",
			"To: <sip:b@127.0.0.1>",
			fmt.Sprintf("Call-ID: val-%d", n),
			"Max-Forwards: 70",
		}
		all = append(all, hdrs...)
		return first + "\r\n" + strings.Join(all, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	}
	tests := []struct {
		name string
		msg  string
		want int
	}{
		{"ok", base("OPTIONS sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 OPTIONS"), 200},
		{"cseq method mismatch", base("OPTIONS sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 INVITE"), 400},
		{"OPTIONS with max-forwards 0", strings.Replace(base("OPTIONS sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 OPTIONS"), "Max-Forwards: 70", "Max-Forwards: 0", 1), 200},
		{"INVITE with max-forwards 0", strings.Replace(base("INVITE sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 INVITE",
			"Contact: <sip:a@127.0.0.1>"), "Max-Forwards: 70", "Max-Forwards: 0", 1), 483},
		{"method not served", base("SUBSCRIBE sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 SUBSCRIBE"), 405},
		{"unknown method", base("FROB sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 FROB"), 501},
		{"method differing from CSeq's by case", base("OPTIONS sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 options"), 200},
		{"Require", base("OPTIONS sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 OPTIONS", "Require: timer, 100rel"), 420},
		{"Require in a method not served", base("SUBSCRIBE sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 SUBSCRIBE", "Require: timer"), 405},
		{"tel Request-URI", base("OPTIONS tel:+33123456789 SIP/2.0", "CSeq: 1 OPTIONS"), 200},
		{"mailto Request-URI", base("OPTIONS mailto:b@example.com SIP/2.0", "CSeq: 1 OPTIONS"), 416},
		{"two Max-Forwards", base("OPTIONS sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 OPTIONS", "Max-Forwards: 69"), 400},
		{"INVITE accepting no SDP", base("INVITE sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 INVITE",
			"Contact: <sip:a@127.0.0.1>", "Accept: application/sdp;q=0, text/plain"), 406},
		{"BYE outside a dialog", base("BYE sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 BYE"), 481},
		{"INFO outside a dialog", base("INFO sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 INFO"), 481},
		{"INVITE without Contact", base("INVITE sip:b@127.0.0.1 SIP/2.0", "CSeq: 1 INVITE"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(tt.msg)
			res := c.final(callIDOf(tt.msg), 2*time.Second)
			if res == nil {
				t.Fatalf("no response, want %d", tt.want)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
}

// callIDOf finds the Call-ID of a raw message, even one the parser rejects.
func callIDOf(msg string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		name, val, ok := strings.Cut(l, ":")
		if ok && (strings.EqualFold(strings.TrimSpace(name), "call-id") || strings.TrimSpace(name) == "i") {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

func TestHandlerPanic(t *testing.T) {
	var n atomic.Int32
	s := startServer(t, func(ctx context.Context, call ivr.Call) {
		switch n.Add(1) {
		case 1:
			panic("before answer")
		case 2:
			if err := call.Answer(ctx); err != nil {
				t.Errorf("answer: %v", err)
				return
			}
			panic("after answer")
		default:
			call.Answer(ctx)
			<-ctx.Done()
		}
	})
	c := newRawClient(t, s)

	// Before the answer: 500 for the INVITE.
	branch := c.invite("panic-1")
	res := c.final("panic-1", 3*time.Second)
	if res == nil || res.StatusCode != 500 {
		t.Fatalf("INVITE to panicking handler: %v, want 500", res)
	}
	c.ack(res, branch)

	// After the answer: the call is hung up with a BYE.
	branch = c.invite("panic-2")
	res = c.final("panic-2", 3*time.Second)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v, want 200", res)
	}
	c.ack(res, branch)
	bye := c.request(sipmsg.BYE, 5*time.Second)
	if bye == nil {
		t.Fatal("no BYE after panic in answered call")
	}
	c.respondOK(bye)

	// The server lives on.
	if code := c.options(); code != 200 {
		t.Fatalf("OPTIONS after panics = %d", code)
	}
	waitIdle(t, s)
}

func TestDrain(t *testing.T) {
	s := startServer(t, func(ctx context.Context, call ivr.Call) {})
	c := newRawClient(t, s)
	s.Drain()
	branch := c.invite("drain-1")
	res := c.final("drain-1", 3*time.Second)
	if res == nil || res.StatusCode != 503 {
		t.Fatalf("INVITE while draining: %v, want 503", res)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() == "" {
		t.Fatalf("503 without Retry-After:\n%s", res)
	}
	c.ack(res, branch)
	if code := c.options(); code != 200 {
		t.Fatalf("OPTIONS while draining = %d", code)
	}
}

// waitIdle waits for the server to have no call.
func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("calls still active: %d: %v", s.ActiveCalls(), err)
	}
}

package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DTMF sources for DTMFEvent.Via.
const (
	ViaRFC4733 = "rfc4733"
	ViaInfo    = "info"
	ViaInband  = "inband"
)

// dtmfQueue is the DTMF channel's buffer: a caller typing ahead fast.
const dtmfQueue = 32

// readBufferSize fits any RTP packet on an Ethernet path.
const readBufferSize = 1500

// DTMFEvent is one key press received on a session.
type DTMFEvent struct {
	Digit rune      // 0-9 * # A-D
	At    time.Time // when the first packet of the key arrived
	Via   string    // ViaRFC4733 or the via given to InjectDTMF
}

// SessionStats are a session's packet counters.
type SessionStats struct {
	PacketsSent     uint64
	BytesSent       uint64 // RTP payload bytes
	PacketsReceived uint64 // RTP packets from the peer
	BytesReceived   uint64 // their payload bytes
	PacketsDropped  uint64 // from a source other than the negotiated peer
	PacketsInvalid  uint64 // from the peer but not valid RTP
	DTMF            uint64 // key presses delivered
	DTMFDropped     uint64 // key presses lost because the DTMF channel was full
}

// peer is what Start and SetRemote negotiate; replaced as a whole so the
// pacer and the receiver read it without a lock.
type peer struct {
	remote  netip.AddrPort
	codec   Codec
	dtmfPT  uint8
	encode  func(dst []byte, src []int16) int
	decode  func(dst []int16, src []byte) int
	silence byte
}

// Session is the RTP media of one call: a UDP socket on an even port, the
// playbacks queued for the pacer, and a receive goroutine (after Start) that
// accepts RTP from the negotiated peer only and decodes its DTMF.
type Session struct {
	ep    *Endpoint
	log   *slog.Logger
	conn  *net.UDPConn
	local netip.AddrPort
	pacer *pacer

	peer         atomic.Pointer[peer]
	started      atomic.Bool
	sending      atomic.Bool
	inband       atomic.Bool  // in-band DTMF detection, see EnableInbandDTMF
	mediaTimeout atomic.Int64 // time.Duration
	lastRx       atomic.Int64 // Endpoint.sinceStart of the last packet from the peer

	mu     sync.Mutex
	queue  []*Playback // head is playing
	closed bool

	// Send state, shared by the pacer (prompts, relayed frames) and, while
	// bridged, the telephone events relayed at once from the other port's
	// receive goroutine, under txMu.
	txMu     sync.Mutex
	ssrc     uint32
	seq      uint16 // next sequence number
	tsBase   uint32 // timestamp of pacer tick 0
	lastTick int64  // tick of the last packet sent, for the marker bit
	out      packetWriter

	// The pacer's own buffers: the packet being sent, and a relayed
	// frame decoded for the recording.
	pkt   [RTPHeaderSize + samplesPerFrame]byte
	heard [samplesPerFrame]int16

	dtmf     chan DTMFEvent
	hooks    atomic.Pointer[Hooks]
	rec      atomic.Pointer[Recorder] // the recording in progress, see Record
	relayOut atomic.Pointer[link]     // where the peer's packets are relayed, see Bridge
	relayIn  atomic.Pointer[link]     // the relay's queue the pacer sends instead of prompts
	done     chan struct{}
	endOnce  sync.Once
	err      error // set before done is closed
	receiver sync.WaitGroup

	sent, sentBytes, received, receivedBytes atomic.Uint64
	dropped, invalid, dtmfCount, dtmfDropped atomic.Uint64
}

// LocalAddr returns the address and port of the session's RTP socket, for SDP.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Start sets the negotiated peer and codec and starts receiving. RTP is
// accepted only from remote (address and port); other packets are dropped
// and counted. dtmfPT is the telephone-event payload type; 0 means none was
// negotiated and RFC 4733 packets are ignored.
func (s *Session) Start(remote netip.AddrPort, codec Codec, dtmfPT uint8) error {
	p, err := newPeer(remote, codec, dtmfPT)
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("start session: %w", ErrClosed)
	}
	if s.started.Load() {
		return errors.New("start session: already started")
	}
	s.peer.Store(p)
	s.lastRx.Store(int64(s.ep.sinceStart()))
	s.started.Store(true)
	s.receiver.Go(s.receive)
	s.log.Debug("rtp session started", "remote", remote, "codec", codec.Name, "dtmf_pt", dtmfPT)
	return nil
}

func newPeer(remote netip.AddrPort, codec Codec, dtmfPT uint8) (*peer, error) {
	if !remote.IsValid() || remote.Port() == 0 {
		return nil, fmt.Errorf("invalid remote address %v", remote)
	}
	enc, dec, silence, ok := codec.funcs()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedCodec, codec.Name)
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	return &peer{remote: remote, codec: codec, dtmfPT: dtmfPT, encode: enc, decode: dec, silence: silence}, nil
}

// SetRemote changes the peer (re-INVITE). An invalid remote or codec is
// logged and ignored. The media timeout starts again from now.
func (s *Session) SetRemote(remote netip.AddrPort, codec Codec, dtmfPT uint8) {
	p, err := newPeer(remote, codec, dtmfPT)
	if err != nil {
		s.log.Warn("ignoring new rtp peer", "remote", remote, "err", err)
		return
	}
	s.lastRx.Store(int64(s.ep.sinceStart()))
	s.peer.Store(p)
	s.log.Debug("rtp peer changed", "remote", remote, "codec", codec.Name, "dtmf_pt", dtmfPT)
}

// SetSending turns sending on or off (hold). While off, playbacks still run
// on the clock but their packets are not sent.
func (s *Session) SetSending(on bool) { s.sending.Store(on) }

// SetMediaTimeout changes this session's media timeout (e.g. 0 while the
// peer holds the call with a=inactive and sends nothing). It counts from the
// last packet received.
func (s *Session) SetMediaTimeout(d time.Duration) {
	s.mediaTimeout.Store(int64(max(d, 0)))
	// Wake the receiver so it arms its read deadline for the new value.
	s.conn.SetReadDeadline(time.Now())
}

// Play queues clips after any playback already queued and returns at once;
// sending starts at the next tick once the session is started.
//
// While the session is bridged (Bridge) the pacer sends the relayed audio
// instead of prompts: the playbacks keep running on the clock, muted as
// with SetSending(false), and end on time (Done closes then); what is left
// of one when the relay stops is played. A prompt never interleaves with
// relayed audio.
func (s *Session) Play(clips []Clip) *Playback {
	pb := newPlayback(clips)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(clips) == 0 {
		pb.finish()
		return pb
	}
	s.queue = append(s.queue, pb)
	return pb
}

// Hooks let a driver act on a session's events from the session's own
// goroutines rather than run one more goroutine per call to watch DTMF()
// and Done().
type Hooks struct {
	// DTMF, when set, receives each key press instead of the DTMF channel.
	// It runs on the receive goroutine (or InjectDTMF's caller) and must not
	// block.
	DTMF func(DTMFEvent)
	// End, when set, is called once when the session ends, with the reason
	// Err gives (ErrMediaTimeout, ErrClosed). It runs on the goroutine that
	// ended the session and must not call Close.
	End func(error)
}

// SetHooks installs h. Set it before Start so no event goes by unseen.
func (s *Session) SetHooks(h Hooks) { s.hooks.Store(&h) }

// DTMF returns the key presses received (RFC 4733 or, if enabled, in-band
// tones) or injected. The channel is never closed.
func (s *Session) DTMF() <-chan DTMFEvent { return s.dtmf }

// InjectDTMF delivers a key press learnt out of band (SIP INFO) on the DTMF
// channel. A rune that is not a DTMF key is ignored.
func (s *Session) InjectDTMF(digit rune, via string) {
	if _, ok := DigitEvent(digit); !ok {
		s.log.Warn("ignoring invalid dtmf digit", "digit", string(digit), "via", via)
		return
	}
	s.deliver(DTMFEvent{Digit: digit, At: time.Now(), Via: via})
}

func (s *Session) deliver(ev DTMFEvent) {
	if h := s.hooks.Load(); h != nil && h.DTMF != nil {
		s.dtmfCount.Add(1)
		h.DTMF(ev)
		return
	}
	select {
	case s.dtmf <- ev:
		s.dtmfCount.Add(1)
	default:
		s.dtmfDropped.Add(1)
		s.log.Warn("dtmf queue full, key dropped", "digit", string(ev.Digit), "via", ev.Via)
	}
}

// Done is closed when the session ends: Close, media timeout, or the
// endpoint closing.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns nil while the session runs, then ErrMediaTimeout or ErrClosed.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the session, stops its playbacks, frees its port and waits for
// its receive goroutine. It is idempotent.
func (s *Session) Close() error {
	s.end(ErrClosed)
	s.receiver.Wait()
	return nil
}

// Stats returns the session's counters.
func (s *Session) Stats() SessionStats {
	return SessionStats{
		PacketsSent:     s.sent.Load(),
		BytesSent:       s.sentBytes.Load(),
		PacketsReceived: s.received.Load(),
		BytesReceived:   s.receivedBytes.Load(),
		PacketsDropped:  s.dropped.Load(),
		PacketsInvalid:  s.invalid.Load(),
		DTMF:            s.dtmfCount.Load(),
		DTMFDropped:     s.dtmfDropped.Load(),
	}
}

// end stops everything but does not wait, so the receiver can call it.
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.pacer.remove(s)
		s.mu.Lock()
		s.closed = true
		queue := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, pb := range queue {
			pb.finish()
		}
		// The recording ends with the session, at the tick due now.
		if r := s.rec.Load(); r != nil {
			r.End()
		}
		s.conn.Close()
		s.ep.release(s)
		s.err = err
		close(s.done)
		if h := s.hooks.Load(); h != nil && h.End != nil {
			h.End(err)
		}
		st := s.Stats()
		s.log.Debug("rtp session ended", "reason", err,
			"sent", st.PacketsSent, "received", st.PacketsReceived,
			"dropped", st.PacketsDropped, "dtmf", st.DTMF)
	})
}

// tick sends the session's frame for pacer tick k, if it has one: its
// prompt's, or while bridged the relay's. It hands the recording, if any,
// what was sent, and sends the frame of the relay's other port if that
// port has no pacer of its own.
func (s *Session) tick(k int64) {
	if !s.started.Load() {
		return
	}
	in := s.relayIn.Load()
	sent := s.play(k)
	if in != nil && sent == nil {
		sent = s.relayTick(in, k)
	}
	if r := s.rec.Load(); r != nil {
		r.tick(k, sent, in != nil)
	}
	if out := s.relayOut.Load(); out != nil && out.driver == s {
		out.dst.relayTick(out, k)
	}
}

// play sends the frame of the head playback for tick k and returns its
// samples, or nil when nothing was sent.
func (s *Session) play(k int64) []int16 {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return nil
		}
		pb := s.queue[0]
		s.mu.Unlock()

		if pb.stopped.Load() {
			s.pop(pb)
			continue
		}
		samples, more := pb.next()
		if !more {
			s.pop(pb)
			continue
		}
		if samples == nil || !s.sending.Load() || s.relayIn.Load() != nil || !s.send(k, samples, pb) {
			samples = nil
		}
		if pb.exhausted() {
			s.pop(pb)
		}
		return samples
	}
}

// pop removes the head playback pb and closes its Done.
func (s *Session) pop(pb *Playback) {
	s.mu.Lock()
	if len(s.queue) > 0 && s.queue[0] == pb {
		s.queue[0] = nil
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()
	pb.finish()
}

// send encodes samples into the session's packet buffer and writes it. It
// reports whether the frame was played: false when its playback was stopped
// meanwhile; a socket error loses the packet on the way, not the frame. It
// does not allocate.
func (s *Session) send(k int64, samples []int16, pb *Playback) bool {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if s.relayIn.Load() != nil {
		// Bridged since the pacer looked: the relayed audio has the
		// stream now.
		return false
	}
	p := s.peer.Load()
	payload := s.pkt[RTPHeaderSize:]
	n := p.encode(payload, samples)
	for i := n; i < len(payload); i++ {
		payload[i] = p.silence
	}
	ts := s.tsBase + uint32(k)*samplesPerFrame
	h := RTPHeader{
		Marker:         s.lastTick != k-1, // first packet of a talkspurt
		PayloadType:    p.codec.PayloadType,
		SequenceNumber: s.seq,
		Timestamp:      ts,
		SSRC:           s.ssrc,
	}
	h.MarshalTo(s.pkt[:])
	// Last check, as close to the write as possible: a playback stopped
	// meanwhile sends nothing more.
	if pb != nil && pb.stopped.Load() {
		return false
	}
	if err := s.out.send(s.conn, s.pkt[:], p); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("send rtp", "err", err)
		}
		return true
	}
	s.seq++
	s.lastTick = k
	s.sent.Add(1)
	s.sentBytes.Add(samplesPerFrame)
	return true
}

// receive reads the socket until the session ends. The read deadline is
// the instant the media timeout would expire; it is only re-armed when it
// fires, not per packet.
func (s *Session) receive() {
	buf := make([]byte, readBufferSize)
	var rx rxState
	arm := func() {
		if timeout := time.Duration(s.mediaTimeout.Load()); timeout > 0 {
			s.conn.SetReadDeadline(s.ep.start.Add(time.Duration(s.lastRx.Load()) + timeout))
		} else {
			s.conn.SetReadDeadline(time.Time{})
		}
	}
	arm()
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				timeout := time.Duration(s.mediaTimeout.Load())
				if timeout > 0 && s.ep.sinceStart()-time.Duration(s.lastRx.Load()) >= timeout {
					s.log.Info("rtp media timeout", "timeout", timeout, "remote", s.peer.Load().remote)
					s.end(ErrMediaTimeout)
					return
				}
				arm()
				continue
			}
			select {
			case <-s.done:
				return
			default:
				s.log.Debug("read rtp", "err", err)
				continue
			}
		}
		s.handle(&rx, buf[:n], from)
	}
}

// rxState is the receive goroutine's own state.
type rxState struct {
	dec      DTMFDecoder
	dtmfSSRC uint32
	// inband is allocated on the first packet in-band detection looks at:
	// most peers send telephone-event and never need it.
	inband *inbandRx
}

// handle processes one datagram from the socket. It does not allocate
// unless it delivers a key press.
func (s *Session) handle(rx *rxState, pkt []byte, from netip.AddrPort) {
	p := s.peer.Load()
	if from.Addr().Unmap() != p.remote.Addr() || from.Port() != p.remote.Port() {
		if s.dropped.Add(1) == 1 {
			s.log.Debug("dropping rtp from unexpected source", "from", from, "remote", p.remote)
		}
		return
	}
	h, payload, err := ParseRTP(pkt)
	if err != nil {
		s.invalid.Add(1)
		return
	}
	s.lastRx.Store(int64(s.ep.sinceStart()))
	s.received.Add(1)
	s.receivedBytes.Add(uint64(len(payload)))
	audio := h.PayloadType == p.codec.PayloadType
	event := !audio && p.dtmfPT != 0 && h.PayloadType == p.dtmfPT
	if audio {
		if r := s.rec.Load(); r != nil {
			r.feed(p.decode, payload)
		}
	}
	if !event {
		s.detectInband(rx, p, &h, payload)
	} else {
		if h.SSRC != rx.dtmfSSRC {
			// A new stream: its events are not the old stream's.
			rx.dec.Reset()
			rx.dtmfSSRC = h.SSRC
		}
		if digit, ok := rx.dec.Feed(h.Timestamp, payload); ok {
			s.deliver(DTMFEvent{Digit: digit, At: time.Now(), Via: ViaRFC4733})
		}
	}
	// Relayed last: an event is rewritten in place.
	if l := s.relayOut.Load(); l != nil {
		switch {
		case audio:
			l.audio(&h, payload, p.codec)
		case event:
			off := cap(pkt) - cap(payload)
			l.event(&h, pkt, off, off+len(payload))
		default:
			l.drop()
		}
	}
}

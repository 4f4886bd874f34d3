package media

// RTP sequence checks as RFC 3550 A.1 makes them: a jump forward beyond
// maxDropout or backward beyond maxMisorder is a stream that restarted.
const (
	maxDropout  = 3000
	maxMisorder = 100
	// maxSkew is how far (8 kHz units, 1 s) a source's timestamps may move
	// apart from the wall clock between two audio packets before the
	// relay takes them for a new stream (a sender that restarted its clock
	// without changing SSRC, or one whose clock stood still while it
	// stopped sending).
	maxSkew = sampleRate
)

// streamMap maps one source stream's sequence numbers and timestamps into
// the destination's stream by two offsets, set when the source stream
// (re)starts so that the destination's sequence continues and its
// timestamp carries on from its wall clock, never going back on what it
// sent before. Between resynchronizations the source's own timing (gaps,
// event timestamps, losses) shows through unchanged.
type streamMap struct {
	synced  bool
	ssrc    uint32
	lastSeq uint16 // highest source sequence number seen
	seqOff  uint16
	tsOff   uint32

	// The last audio packet: source timestamp, samples, sequence number,
	// and the destination's wall clock when it came.
	haveAudio bool
	audioTS   uint32
	audioLen  uint32
	audioSeq  uint16
	audioWall uint32

	resyncs uint64
}

// next maps source header h (samples of audio, 0 for an event) into the
// destination stream. wall is the destination's 8 kHz clock now; nextSeq
// and nextTS the destination's next sequence number and first free
// timestamp (where its last packet ended).
func (m *streamMap) next(h *RTPHeader, samples uint32, event bool, wall uint32, nextSeq uint16, nextTS uint32) (seq uint16, ts uint32, marker bool) {
	resync := !m.synced || h.SSRC != m.ssrc
	if !resync {
		if d := h.SequenceNumber - m.lastSeq; d > maxDropout && d < 1<<16-maxMisorder {
			resync = true
		}
	}
	if !resync && !event && m.haveAudio {
		// Event packets keep their event's start timestamp for its whole
		// length: only audio says where the source's clock is.
		skew := int64(int32(h.Timestamp-m.audioTS)) - int64(int32(wall-m.audioWall))
		if skew > maxSkew || skew < -maxSkew {
			resync = true
		}
	}
	if resync {
		start := wall
		if int32(nextTS-wall) > 0 {
			start = nextTS
		}
		*m = streamMap{
			synced:  true,
			ssrc:    h.SSRC,
			lastSeq: h.SequenceNumber - 1,
			seqOff:  nextSeq - h.SequenceNumber,
			tsOff:   start - h.Timestamp,
			resyncs: m.resyncs + 1,
		}
		marker = true
	}
	if int16(h.SequenceNumber-m.lastSeq) > 0 {
		m.lastSeq = h.SequenceNumber
	}
	marker = marker || h.Marker
	if !event {
		if m.haveAudio {
			// A talkspurt after a pause (DTX, a sender that stopped): the
			// timestamp moved on by more than the packets in between
			// hold. Lost packets alone do not make one.
			if d := int16(h.SequenceNumber - m.audioSeq); d > 0 && int32(h.Timestamp-m.audioTS) > int32(d)*int32(m.audioLen) {
				marker = true
			}
		}
		if !m.haveAudio || int16(h.SequenceNumber-m.audioSeq) > 0 {
			m.haveAudio = true
			m.audioTS, m.audioLen, m.audioSeq, m.audioWall = h.Timestamp, samples, h.SequenceNumber, wall
		}
	}
	return h.SequenceNumber + m.seqOff, h.Timestamp + m.tsOff, marker
}

// advance returns the destination's next sequence number and first free
// timestamp after sending a packet (seq, ts) of samples, given the
// previous ones: both only move forward.
func advance(nextSeq uint16, nextTS uint32, seq uint16, ts, samples uint32) (uint16, uint32) {
	if int16(seq+1-nextSeq) > 0 {
		nextSeq = seq + 1
	}
	if end := ts + samples; int32(end-nextTS) > 0 {
		nextTS = end
	}
	return nextSeq, nextTS
}

package sip

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/media"
)

// TestSippInbandDTMF: a caller that offers no telephone-event sends key 7
// as tones in its PCMU audio; the call delivers it via "inband".
func TestSippInbandDTMF(t *testing.T) {
	dir := t.TempDir()
	// 100 ms of silence, 80 ms of key 7 (852 + 1209 Hz), 300 ms of silence.
	pcm := make([]int16, 8*480)
	for i := 800; i < 800+8*80; i++ {
		x := float64(i) / 8000
		pcm[i] = int16(7000 * (math.Sin(2*math.Pi*852*x) + math.Sin(2*math.Pi*1209*x)))
	}
	writeRTPPcap(t, filepath.Join(dir, "inband.pcap"), pcm)

	tone := writeTone(t, time.Second)
	results := make(chan callResult, 1)
	s := startServer(t, playAndWaitKey(tone, results))
	runSippIn(t, dir, s, "uac_inband.xml", "udp")
	r := <-results
	checkKeyCall(t, r, '7', media.ViaInband)
	waitIdle(t, s)
}

// writeRTPPcap writes pcm as a pcap of 20 ms PCMU RTP packets over
// Ethernet, IPv4 and UDP, as sipp's play_pcap_audio reads them (it
// rewrites the addresses and ports and keeps the timing).
func writeRTPPcap(t *testing.T, path string, pcm []int16) {
	t.Helper()
	le := binary.LittleEndian
	// Global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, 1)
	for seq := 0; seq*160 < len(pcm); seq++ {
		frame := pcm[seq*160 : min(seq*160+160, len(pcm))]
		rtp := make([]byte, media.RTPHeaderSize+len(frame))
		h := media.RTPHeader{PayloadType: 0, SequenceNumber: uint16(seq), Timestamp: uint32(seq * 160),
			SSRC: 0x5eed, Marker: seq == 0}
		h.MarshalTo(rtp)
		media.EncodeUlaw(rtp[media.RTPHeaderSize:], frame)

		udp := binary.BigEndian.AppendUint16(nil, 6000)
		udp = binary.BigEndian.AppendUint16(udp, 6002)
		udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(rtp)))
		udp = binary.BigEndian.AppendUint16(udp, 0) // no checksum
		udp = append(udp, rtp...)

		ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(udp)))
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		pkt := append([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00}, ip...)
		pkt = append(pkt, udp...)

		usec := seq * 20000
		b = le.AppendUint32(b, uint32(usec/1e6))
		b = le.AppendUint32(b, uint32(usec%1e6))
		b = le.AppendUint32(b, uint32(len(pkt)))
		b = le.AppendUint32(b, uint32(len(pkt)))
		b = append(b, pkt...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

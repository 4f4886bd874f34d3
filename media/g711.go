package media

// G.711 (ITU-T) μ-law and A-law, table driven. The encoders index a table by
// the top 14 (μ-law) or 13 (A-law) bits of the sample, which are the only
// bits the companding laws look at, so the tables are exact.

const (
	ulawSilence = 0xFF // μ-law code of 0
	alawSilence = 0xD5 // A-law code of 0
)

var (
	ulawEncTable [1 << 14]byte
	alawEncTable [1 << 13]byte
	ulawDecTable [256]int16
	alawDecTable [256]int16
)

func init() {
	for i := range ulawEncTable {
		ulawEncTable[i] = ulawEncode(int16(uint16(i) << 2))
	}
	for i := range alawEncTable {
		alawEncTable[i] = alawEncode(int16(uint16(i) << 3))
	}
	for i := range 256 {
		ulawDecTable[i] = ulawDecode(byte(i))
		alawDecTable[i] = alawDecode(byte(i))
	}
}

// EncodeUlaw encodes src as μ-law into dst and returns the number of bytes
// written, min(len(dst), len(src)).
func EncodeUlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = ulawEncTable[uint16(s)>>2]
	}
	return n
}

// DecodeUlaw decodes μ-law src into dst and returns the number of samples
// written, min(len(dst), len(src)).
func DecodeUlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = ulawDecTable[b]
	}
	return n
}

// EncodeAlaw encodes src as A-law into dst and returns the number of bytes
// written, min(len(dst), len(src)).
func EncodeAlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = alawEncTable[uint16(s)>>3]
	}
	return n
}

// DecodeAlaw decodes A-law src into dst and returns the number of samples
// written, min(len(dst), len(src)).
func DecodeAlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = alawDecTable[b]
	}
	return n
}

// The reference companding functions below (after ITU-T G.191) fill the tables.

const (
	g711SignBit   = 0x80
	g711QuantMask = 0x0F
	g711SegShift  = 4
	g711SegMask   = 0x70
	ulawBias      = 0x84
	ulawClip      = 8159 // in 14-bit units
)

var (
	ulawSegEnd = [8]int32{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
	alawSegEnd = [8]int32{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
)

func segment(v int32, ends *[8]int32) int32 {
	for i, e := range ends {
		if v <= e {
			return int32(i)
		}
	}
	return 8
}

func ulawEncode(s int16) byte {
	// Negative values use the one's complement, as in ITU-T G.191, so the
	// law is symmetric (-1 encodes like 0, with the sign bit).
	v := int32(s) >> 2
	mask := int32(0xFF)
	if v < 0 {
		v = ^v
		mask = 0x7F
	}
	v = min(v, ulawClip) + ulawBias>>2
	seg := segment(v, &ulawSegEnd)
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	return byte((seg<<4 | (v>>(seg+1))&g711QuantMask) ^ mask)
}

func ulawDecode(u byte) int16 {
	u = ^u
	t := (int32(u&g711QuantMask) << 3) + ulawBias
	t <<= (u & g711SegMask) >> g711SegShift
	if u&g711SignBit != 0 {
		return int16(ulawBias - t)
	}
	return int16(t - ulawBias)
}

func alawEncode(s int16) byte {
	v := int32(s) >> 3
	mask := int32(0xD5)
	if v < 0 {
		mask = 0x55
		v = ^v
	}
	seg := segment(v, &alawSegEnd)
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	a := seg << g711SegShift
	if seg < 2 {
		a |= (v >> 1) & g711QuantMask
	} else {
		a |= (v >> seg) & g711QuantMask
	}
	return byte(a ^ mask)
}

func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int32(a&g711QuantMask) << 4
	switch seg := (a & g711SegMask) >> g711SegShift; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&g711SignBit != 0 {
		return int16(t)
	}
	return int16(-t)
}

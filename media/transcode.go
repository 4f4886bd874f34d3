package media

// Byte-to-byte G.711 conversion, for a relay between a μ-law and an A-law
// leg: each code maps to the code of the other law nearest its linear value,
// so a packet is converted in place with one table lookup per sample.
var (
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
)

func init() {
	for i := range 256 {
		ulawToAlaw[i] = alawEncode(ulawDecode(byte(i)))
		alawToUlaw[i] = ulawEncode(alawDecode(byte(i)))
	}
}

// transcodeTable returns the table converting G.711 payloads of codec from
// into codec to; nil with ok true when they are the same law (no
// conversion), ok false when either is not G.711.
func transcodeTable(from, to Codec) (table *[256]byte, ok bool) {
	switch {
	case from.Name == to.Name && (from.Name == CodecPCMU.Name || from.Name == CodecPCMA.Name):
		return nil, true
	case from.Name == CodecPCMU.Name && to.Name == CodecPCMA.Name:
		return &ulawToAlaw, true
	case from.Name == CodecPCMA.Name && to.Name == CodecPCMU.Name:
		return &alawToUlaw, true
	}
	return nil, false
}

// transcode converts payload in place through table.
func transcode(table *[256]byte, payload []byte) {
	for i, b := range payload {
		payload[i] = table[b]
	}
}

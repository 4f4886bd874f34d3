package audiofile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Layout of the encrypted container; see the package documentation.
const (
	magic            = "IVRDREC1"
	keySize          = 32
	fileIDSize       = 16
	fileHeaderSize   = 32
	nonceSize        = 12
	tagSize          = 16
	overhead         = nonceSize + tagSize
	headerRecordSize = overhead + wavHeaderSize
	dataStart        = fileHeaderSize + headerRecordSize

	defaultChunkSize = 64 << 10
	// Bounds of the chunk size a file may declare: they keep a hostile
	// header from making Open allocate much, and keep chunks whole frames.
	minChunkSize = 64
	maxChunkSize = 1 << 20

	kdfInfo = "ivrd recording v1"
)

// container seals and opens the records of one encrypted file.
type container struct {
	header    [fileHeaderSize]byte
	chunkSize int
	aead      cipher.AEAD
	// aad is header || index || final; only the last 9 bytes change, so
	// sealing a record builds no slice.
	aad [fileHeaderSize + 9]byte
}

// newContainer starts a new file with a random id.
func newContainer(key []byte, chunkSize int) (*container, error) {
	var h [fileHeaderSize]byte
	copy(h[:], magic)
	binary.BigEndian.PutUint32(h[8:12], uint32(chunkSize))
	if _, err := rand.Read(h[12 : 12+fileIDSize]); err != nil {
		return nil, fmt.Errorf("draw file id: %w", err)
	}
	return openContainer(key, h[:])
}

// parseHeader checks a container header and returns its chunk size. A
// header with the magic but fields Create never writes was altered, which
// is an ErrAuth like any other change.
func parseHeader(h []byte) (int, error) {
	if len(h) < len(magic) || string(h[:len(magic)]) != magic {
		return 0, fmt.Errorf("%w: no container magic", ErrFormat)
	}
	if len(h) < fileHeaderSize {
		return 0, fmt.Errorf("%w: container header cut at %d bytes", ErrAuth, len(h))
	}
	cs := binary.BigEndian.Uint32(h[8:12])
	if cs < minChunkSize || cs > maxChunkSize || cs%bytesPerFrame != 0 {
		return 0, fmt.Errorf("%w: chunk size %d", ErrAuth, cs)
	}
	for _, b := range h[12+fileIDSize : fileHeaderSize] {
		if b != 0 {
			return 0, fmt.Errorf("%w: reserved header bytes set", ErrAuth)
		}
	}
	return int(cs), nil
}

// openContainer prepares the records of the file whose header is h.
func openContainer(key, h []byte) (*container, error) {
	cs, err := parseHeader(h)
	if err != nil {
		return nil, err
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: got %d", ErrBadKey, len(key))
	}
	c := &container{chunkSize: cs}
	copy(c.header[:], h)
	copy(c.aad[:], h)
	fileKey, err := hkdf.Key(sha256.New, key, h[12:12+fileIDSize], kdfInfo, keySize)
	if err != nil {
		return nil, fmt.Errorf("derive file key: %w", err)
	}
	block, err := aes.NewCipher(fileKey)
	if err != nil {
		return nil, fmt.Errorf("init cipher: %w", err)
	}
	if c.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("init gcm: %w", err)
	}
	return c, nil
}

// recordSize is the size on disk of a data record of n plaintext bytes.
func recordSize(n int) int { return n + overhead }

func (c *container) setAAD(index uint64, final bool) {
	binary.BigEndian.PutUint64(c.aad[fileHeaderSize:], index)
	c.aad[fileHeaderSize+8] = 0
	if final {
		c.aad[fileHeaderSize+8] = 1
	}
}

// seal writes into rec (cap at least recordSize(len(pt))) the record of
// plaintext pt at index, under a fresh nonce, and returns it.
func (c *container) seal(rec, pt []byte, index uint64, final bool) ([]byte, error) {
	rec = rec[:nonceSize]
	if _, err := rand.Read(rec); err != nil {
		return nil, fmt.Errorf("draw nonce: %w", err)
	}
	c.setAAD(index, final)
	return c.aead.Seal(rec, rec, pt, c.aad[:]), nil
}

// open authenticates record rec at index and appends its plaintext to dst.
func (c *container) open(dst, rec []byte, index uint64, final bool) ([]byte, error) {
	if len(rec) < overhead {
		return nil, fmt.Errorf("open record %d: %w: %d bytes", index, ErrAuth, len(rec))
	}
	c.setAAD(index, final)
	pt, err := c.aead.Open(dst, rec[:nonceSize], rec[nonceSize:], c.aad[:])
	if err != nil {
		return nil, fmt.Errorf("open record %d: %w", index, ErrAuth)
	}
	return pt, nil
}

// layout is where the data records of a container file of a given size lie.
type layout struct {
	records int64 // data records (1..records)
	lastLen int   // plaintext bytes of the last data record
	data    int64 // plaintext bytes of audio
}

// layoutFor computes the data records of a file of size bytes; ok is false
// when size is not that of a whole container.
func layoutFor(size int64, chunkSize int) (l layout, ok bool) {
	if size < dataStart {
		return l, false
	}
	rest := size - dataStart
	full := int64(recordSize(chunkSize))
	l.records = rest / full
	rem := rest % full
	l.data = l.records * int64(chunkSize)
	switch {
	case rem == 0:
		l.lastLen = chunkSize
	case rem > overhead:
		l.records++
		l.lastLen = int(rem) - overhead
		l.data += int64(l.lastLen)
	default:
		return l, false
	}
	if l.records == 0 {
		l.lastLen = 0
	}
	return l, true
}

// recordOffset is the file offset of data record i (i >= 1).
func (c *container) recordOffset(i int64) int64 {
	return dataStart + (i-1)*int64(recordSize(c.chunkSize))
}

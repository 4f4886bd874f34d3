package audiofile

// Hooks for the tests of package audiofile_test.

// CreateChunked is Create with another chunk size, so tests get many
// chunks from little audio.
func CreateChunked(path string, key []byte, chunkSize int) (*Writer, error) {
	return create(path, key, chunkSize)
}

// SetWritten pretends n audio bytes were written.
func (w *Writer) SetWritten(n int64) { w.data = n }

const (
	DefaultChunkSize = defaultChunkSize
	ContainerHeader  = fileHeaderSize
	DataStart        = dataStart
	Overhead         = overhead
	MaxDataBytes     = maxDataBytes
)

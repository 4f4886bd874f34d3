// Package audiofile writes, repairs and reads ivrd's call recordings: stereo
// WAV files, optionally encrypted at rest with AES-256-GCM.
//
// # WAV
//
// A recording is a canonical WAV with a 44-byte header: a RIFF/WAVE file
// with a 16-byte PCM fmt chunk (2 channels, 8000 Hz, 16 bits, block align
// 4, 32000 bytes/s) followed by one data chunk of interleaved signed 16-bit
// little-endian samples, the caller on the left channel and ivrd or the
// agent on the right.
//
// # Writing, crashes and repair
//
// Create writes to path+".part" (mode 0600, created exclusively) and
// writes a provisional header at once, with zero sizes, so that a leftover
// is recognisable after a crash. Audio is buffered in 64 KiB (about 2 s)
// and written a buffer at a time; WriteFrames does no system call and no
// allocation otherwise. Close writes the last buffer and the final header,
// fsyncs the file, renames it to path and fsyncs the directory, so a file
// under its final name is always complete. A crash loses at most the
// buffered audio and leaves the ".part" file.
//
// Repair completes such a leftover. For a WAV it takes the audio length
// from the file length, dropping a torn trailing sample frame, and rewrites
// the sizes. For the encrypted container it keeps the longest run of chunks
// that authenticate, drops the rest (a torn chunk), marks the last chunk
// kept as final and re-seals the header chunk. Anything shorter than a
// header, or in neither format, is ErrUnrepairable. Repair may itself be
// interrupted and run again.
//
// # Encrypted container
//
// With a key, no byte of WAV is stored in the clear: the file starts with
// a magic, not with RIFF. The layout is
//
//	file   = header record0 record1 ... recordN
//	header = "IVRDREC1" chunkSize:uint32 fileID:[16]byte reserved:[4]byte   (32 bytes)
//	record = nonce:[12]byte ciphertext tag:[16]byte
//
// "IVRDREC" is the magic and "1" the version. Integers are big-endian and
// reserved bytes are zero. Record 0 seals the 44-byte WAV header alone, so
// it has a fixed size (72 bytes) and Close re-seals it in place once the
// sizes are known. Records 1 to N seal the WAV data in chunks of chunkSize
// bytes (64 KiB), the last one from 1 to chunkSize bytes; a recording with
// no audio has no data record. The number of records and the length of
// the last one follow from the file size, so plaintext offsets map to
// records without an index, which is what Open needs to seek.
//
// Each record is sealed with AES-256-GCM under a key derived for the file,
// HKDF-SHA256(key, salt = fileID, info = "ivrd recording v1"), and a fresh
// random 96-bit nonce stored in front of it; a record re-sealed in place
// gets a new nonce. A key per file keeps the number of nonces drawn under
// one key small whatever the number of recordings. The additional data of
// record i is
//
//	header || i:uint64 || final:byte
//
// where final is 1 for the last record of the file and 0 otherwise. The
// header binds the chunk size and the random file id (records cannot move
// between files), the index binds the order, and the final flag detects a
// file cut at a record boundary. Open checks record 0 and the last record
// before returning, so a truncated or foreign file fails at once with
// ErrAuth; the other records are checked as they are read.
//
// The plaintext of a complete container is exactly the WAV a plain
// recording would have been: Open returns it, decrypting when needed, and
// the Reader seeks, so it can be served with http.ServeContent.
package audiofile

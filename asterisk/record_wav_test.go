package asterisk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// riffWAV builds a WAV file from chunks: [2]any{id, body}.
func riffWAV(chunks ...[2]any) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	for _, c := range chunks {
		id, data := c[0].(string), c[1].([]byte)
		body.WriteString(id)
		_ = binary.Write(&body, binary.LittleEndian, uint32(len(data)))
		body.Write(data)
		if len(data)%2 == 1 {
			body.WriteByte(0)
		}
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

func fmtPCM(tag, channels uint16, rate uint32, bits uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], tag)
	binary.LittleEndian.PutUint16(b[2:], channels)
	binary.LittleEndian.PutUint32(b[4:], rate)
	binary.LittleEndian.PutUint32(b[8:], rate*uint32(channels)*uint32(bits)/8)
	binary.LittleEndian.PutUint16(b[12:], channels*bits/8)
	binary.LittleEndian.PutUint16(b[14:], bits)
	return b
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, x := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
	}
	return b
}

// readAll reads every sample of a WAV file with newWAVReader, n at a time.
func readAll(r io.Reader, n int) ([]int16, error) {
	w, err := newWAVReader(r)
	if err != nil {
		return nil, err
	}
	var out []int16
	buf := make([]int16, n)
	for {
		k, err := w.read(buf)
		out = append(out, buf[:k]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestWAVReader(t *testing.T) {
	samples := make([]int16, 1000)
	for i := range samples {
		samples[i] = int16(i*37 - 18000)
	}
	good := riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", pcmBytes(samples)})
	// Asterisk could not close the file: the sizes in the header are 0.
	unclosed := slices.Clone(good)
	binary.LittleEndian.PutUint32(unclosed[40:], 0)
	tests := []struct {
		name    string
		file    []byte
		want    []int16
		wantErr error
	}{
		{"asterisk wav", good, samples, nil},
		{"chunks before data", riffWAV([2]any{"LIST", []byte("abc")}, [2]any{"fmt ", fmtPCM(1, 1, 8000, 16)},
			[2]any{"fact", []byte{1, 2, 3, 4}}, [2]any{"data", pcmBytes(samples[:10])}), samples[:10], nil},
		{"data cut short", good[:len(good)-101], samples[:len(samples)-51], nil},
		{"sizes never written", unclosed, samples, nil},
		{"empty data", riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", []byte{}}), nil, nil},
		{"odd data size", riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", []byte{1, 2, 3}}), []int16{0x0201}, nil},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVEfmt "), nil, ErrBadRecording},
		{"truncated header", good[:20], nil, ErrBadRecording},
		{"16 kHz", riffWAV([2]any{"fmt ", fmtPCM(1, 1, 16000, 16)}, [2]any{"data", pcmBytes(samples)}), nil, ErrBadRecording},
		{"stereo", riffWAV([2]any{"fmt ", fmtPCM(1, 2, 8000, 16)}, [2]any{"data", pcmBytes(samples)}), nil, ErrBadRecording},
		{"mu-law", riffWAV([2]any{"fmt ", fmtPCM(7, 1, 8000, 8)}, [2]any{"data", []byte{1}}), nil, ErrBadRecording},
		{"data before fmt", riffWAV([2]any{"data", pcmBytes(samples)}), nil, ErrBadRecording},
		{"no data", riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}), nil, ErrBadRecording},
		{"huge chunk before data", riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"junk", make([]byte, maxWAVHeader+2)},
			[2]any{"data", pcmBytes(samples)}), nil, ErrBadRecording},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range []int{frameSamples, 7, 1} {
				// One byte at a time, as a slow HTTP body may come.
				got, err := readAll(iotest.OneByteReader(bytes.NewReader(tt.file)), n)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("read by %d: err %v, want %v", n, err, tt.wantErr)
				}
				if tt.wantErr == nil && !slices.Equal(got, tt.want) {
					t.Fatalf("read by %d: %d samples, want %d", n, len(got), len(tt.want))
				}
			}
		})
	}
}

func TestWAVReaderReadError(t *testing.T) {
	head := riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", pcmBytes(make([]int16, 100))})[:44]
	boom := errors.New("connection reset")
	w, err := newWAVReader(io.MultiReader(bytes.NewReader(head), iotest.ErrReader(boom)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.read(make([]int16, 10)); !errors.Is(err, boom) {
		t.Fatalf("read = %v, want the connection's error", err)
	}
}

func FuzzWAVReader(f *testing.F) {
	f.Add(riffWAV([2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", pcmBytes([]int16{1, -1, 300})}))
	f.Add(riffWAV([2]any{"LIST", []byte("x")}, [2]any{"fmt ", fmtPCM(1, 1, 8000, 16)}, [2]any{"data", []byte{1}}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readAll(bytes.NewReader(b), frameSamples)
		if err != nil && !errors.Is(err, ErrBadRecording) {
			t.Fatalf("error %v does not wrap ErrBadRecording", err)
		}
		if 2*len(got) > len(b) {
			t.Fatalf("%d samples out of %d bytes", len(got), len(b))
		}
	})
}

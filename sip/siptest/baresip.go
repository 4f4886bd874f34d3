package siptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ivrd/ivrd/media"
)

// BaresipConfig configures a baresip softphone.
type BaresipConfig struct {
	// Dir holds its configuration, the tone it sends and the audio it
	// records. Required (a test's TempDir).
	Dir string
	// User is the account's user, the user part of URI (default "agent").
	User string
	// Tone is the frequency in Hz of the tone it sends as its microphone
	// (default 1000); ToneLength how long the tone lasts (default 60 s,
	// silence after).
	Tone       float64
	ToneLength time.Duration
	// Answer is its account's answer mode: "auto" (default) answers every
	// call at once, "manual" lets it ring.
	Answer string
}

// Baresip is a baresip softphone on 127.0.0.1, such as an agent's phone
// that answers by itself: it sends a tone and records what it receives.
// baresip runs until Close.
type Baresip struct {
	cfg  BaresipConfig
	port int
	cmd  *exec.Cmd

	stdin  io.WriteCloser
	output lockedBuffer
	exited chan struct{}
	err    error // of the process, once exited is closed
	once   sync.Once
}

// StartBaresip writes the configuration and starts baresip, which listens
// for SIP on a free UDP and TCP port of 127.0.0.1. ctx bounds its life.
func StartBaresip(ctx context.Context, cfg BaresipConfig) (*Baresip, error) {
	if cfg.Dir == "" {
		return nil, errors.New("start baresip: no directory")
	}
	if cfg.User == "" {
		cfg.User = "agent"
	}
	if cfg.Tone == 0 {
		cfg.Tone = 1000
	}
	if cfg.ToneLength <= 0 {
		cfg.ToneLength = 60 * time.Second
	}
	if cfg.Answer == "" {
		cfg.Answer = "auto"
	}
	port, err := freeSIPPort()
	if err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	tone := filepath.Join(cfg.Dir, "tone.wav")
	if err := writeToneWAV(tone, cfg.Tone, cfg.ToneLength); err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	// baresip 1.0: aufile is only a source; the sndfile filter records
	// what the call receives to dump-*-dec.wav in snd_path.
	config := fmt.Sprintf(`poll_method		poll
sip_listen		127.0.0.1:%d
audio_source		aufile,%s
audio_srate		8000
audio_channels		1
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			aufile.so
module			sndfile.so
snd_path		%s
module_app		account.so
module_app		menu.so
`, port, tone, cfg.Dir)
	if err := os.WriteFile(filepath.Join(cfg.Dir, "config"), []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0;answermode=%s;audio_codecs=PCMU,PCMA\n", cfg.User, cfg.Answer)
	if err := os.WriteFile(filepath.Join(cfg.Dir, "accounts"), []byte(account), 0o644); err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	b := &Baresip{cfg: cfg, port: port, exited: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, "baresip", "-n", "127.0.0.1", "-f", cfg.Dir)
	b.cmd.Dir = cfg.Dir
	b.cmd.Stdout = &b.output
	b.cmd.Stderr = &b.output
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.waitListening(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("start baresip: %w\n%s", err, b.Output())
	}
	return b, nil
}

// waitListening waits until baresip's SIP port is bound.
func (b *Baresip) waitListening(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			return fmt.Errorf("baresip exited: %v", b.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		conn, err := net.ListenPacket("udp", b.Addr())
		if err != nil {
			return nil // bound by baresip
		}
		conn.Close()
	}
	return errors.New("baresip does not listen")
}

// Addr is baresip's SIP address, host:port.
func (b *Baresip) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// URI is the phone's SIP URI (UDP), as an agent's phone in ivrd's
// configuration.
func (b *Baresip) URI() string { return "sip:" + b.cfg.User + "@" + b.Addr() }

// Tone is the frequency of the tone baresip sends.
func (b *Baresip) Tone() float64 { return b.cfg.Tone }

// Output is what baresip printed so far.
func (b *Baresip) Output() string { return b.output.String() }

// Command sends baresip a command on its standard input, such as "b" to
// hang up the current call or "a" to answer it.
func (b *Baresip) Command(cmd string) error {
	if _, err := io.WriteString(b.stdin, cmd); err != nil {
		return fmt.Errorf("baresip command %q: %w", cmd, err)
	}
	return nil
}

// Received returns the audio baresip received (decoded, 8 kHz mono) in
// its calls so far, one slice per call. The recording of a call is
// complete once the call ended.
func (b *Baresip) Received() ([][]int16, error) {
	files, err := filepath.Glob(filepath.Join(b.cfg.Dir, "dump-*-dec.wav"))
	if err != nil {
		return nil, err
	}
	var out [][]int16
	for _, f := range files {
		samples, err := media.LoadWAV(f)
		if err != nil {
			return nil, fmt.Errorf("baresip recording %s: %w", filepath.Base(f), err)
		}
		out = append(out, samples)
	}
	return out, nil
}

// Close quits baresip (or kills it after 5 s) and waits for it. It is
// idempotent.
func (b *Baresip) Close() error {
	b.once.Do(func() {
		_, _ = io.WriteString(b.stdin, "q")
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		b.stdin.Close()
	})
	return nil
}

// freeSIPPort finds a port of 127.0.0.1 free for both UDP and TCP.
func freeSIPPort() (int, error) {
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err != nil {
			continue
		}
		t.Close()
		return port, nil
	}
	return 0, errors.New("no free port for SIP")
}

// writeToneWAV writes an 8 kHz mono WAV of a tone at -10 dBm0.
func writeToneWAV(path string, freq float64, d time.Duration) error {
	samples := make([]int16, int(d.Seconds()*8000))
	for i := range samples {
		samples[i] = int16(toneAmplitude * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, samples, 8000, 1); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// lockedBuffer is an output buffer written by a process and read by tests.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Clone(l.buf.String())
}

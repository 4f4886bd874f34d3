package tts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// SampleRate is the rate of the rendered files.
const SampleRate = 8000

// Defaults of Espeak.
const (
	DefaultBin   = "espeak-ng"
	DefaultSpeed = 160 // words per minute
)

// DefaultVoices maps languages to espeak-ng voices.
var DefaultVoices = map[string]string{"fr": "fr-fr", "en": "en-us"}

// Espeak renders text with the espeak-ng command. It is safe for concurrent
// use; the zero value uses espeak-ng from PATH and needs only CacheDir.
type Espeak struct {
	Bin      string            // default DefaultBin
	CacheDir string            // rendered files; created if missing
	Voice    map[string]string // language -> voice; default DefaultVoices
	Speed    int               // words per minute; default DefaultSpeed
}

// Render returns the cached 8 kHz mono PCM16 WAV of text spoken in lang,
// synthesizing it on a cache miss.
func (e *Espeak) Render(ctx context.Context, text, lang string) (ivr.Audio, error) {
	voice, ok := e.voice(lang)
	if !ok {
		return ivr.Audio{}, fmt.Errorf("render %q: %w %q", text, ErrNoVoice, lang)
	}
	speed := e.Speed
	if speed <= 0 {
		speed = DefaultSpeed
	}
	sum := sha256.Sum256([]byte("espeak-ng\x00" + voice + "\x00" + strconv.Itoa(speed) + "\x00" + text))
	id := hex.EncodeToString(sum[:])
	path := filepath.Join(e.CacheDir, id[:2], id+".wav")
	a := ivr.Audio{Path: path, Text: text, ID: id[:16]}
	if _, err := os.Stat(path); err == nil {
		return a, nil
	}
	if err := e.synthesize(ctx, path, voice, speed, text); err != nil {
		return ivr.Audio{}, fmt.Errorf("render %q: %w", text, err)
	}
	return a, nil
}

func (e *Espeak) voice(lang string) (string, bool) {
	voices := e.Voice
	if voices == nil {
		voices = DefaultVoices
	}
	v, ok := voices[lang]
	return v, ok && v != ""
}

// synthesize runs espeak-ng, resamples its output and writes path
// atomically, so a concurrent reader never sees half a file.
func (e *Espeak) synthesize(ctx context.Context, path, voice string, speed int, text string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	raw, err := os.CreateTemp(dir, ".espeak-*.wav")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	raw.Close()
	defer os.Remove(raw.Name())

	bin := e.Bin
	if bin == "" {
		bin = DefaultBin
	}
	// The text goes on stdin so that no text can be taken for an option.
	cmd := exec.CommandContext(ctx, bin, "-v", voice, "-s", strconv.Itoa(speed), "-b", "1", "-w", raw.Name())
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	b, err := os.ReadFile(raw.Name())
	if err != nil {
		return fmt.Errorf("read synthesized audio: %w", err)
	}
	samples, rate, err := decodePCM16(b)
	if err != nil {
		return fmt.Errorf("decode synthesized audio: %w", err)
	}
	samples = media.Resample(samples, rate, SampleRate)

	tmp, err := os.CreateTemp(dir, ".render-*.wav")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := media.WriteWAV(tmp, samples, SampleRate, 1); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store rendered audio: %w", err)
	}
	return nil
}

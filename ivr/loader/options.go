package loader

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/ivrd/ivrd/ivr"
)

// TTS renders text to speech.
type TTS interface {
	// Render returns Audio whose Path is a cached 8 kHz mono PCM16 WAV of
	// text spoken in lang ("fr", "en").
	Render(ctx context.Context, text, lang string) (ivr.Audio, error)
}

// Options configure Load and a Library.
type Options struct {
	// Dir is the flows folder.
	Dir string
	// PromptDir holds the files of `file:` prompts. Default Dir/prompts.
	PromptDir string
	// TTS renders `say:` prompts and the say-digits vocabulary. When nil,
	// nothing is rendered: the flows are only validated (their spoken parts
	// have Text but no Path).
	TTS TTS
	// CheckAudio, when set, is given the content of every `file:` prompt
	// and reports why it cannot be played (wrong WAV format, say); the
	// error is reported at the prompt's position.
	CheckAudio func(content []byte) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (o Options) promptDir() string {
	if o.PromptDir != "" {
		return o.PromptDir
	}
	return filepath.Join(o.Dir, "prompts")
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

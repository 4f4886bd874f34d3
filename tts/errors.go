package tts

import "errors"

var (
	// ErrNoVoice is returned for a language with no voice configured.
	ErrNoVoice = errors.New("no voice for language")
	// ErrBadOutput is returned when the synthesizer's output is not a PCM16 WAV.
	ErrBadOutput = errors.New("unexpected synthesizer output")
)

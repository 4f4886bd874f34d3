package loader

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// A prompt file the driver could not play is an error at the prompt's
// position, so a bad recording is caught when it is dropped in, not when a
// caller reaches it.
func TestCheckAudio(t *testing.T) {
	dir := extract(t, filepath.Join("testdata", "errors", "prompt-file.txt"))
	errBad := errors.New("unsupported WAV format 85 (MP3)")
	var seen int
	_, diags, err := Load(context.Background(), Options{Dir: dir, CheckAudio: func(b []byte) error {
		seen++
		if strings.HasPrefix(string(b), "RIFF") {
			return errBad
		}
		return nil
	}})
	if err == nil {
		t.Fatal("load accepted a prompt the check refused")
	}
	if seen != 1 {
		t.Errorf("CheckAudio called %d times, want 1 (the one existing file)", seen)
	}
	var found bool
	for _, d := range diags {
		if s := relative(dir, d); strings.HasPrefix(s, "t.yaml:7:15: error: file: prompt file \"hello.wav\" cannot be played: unsupported WAV format 85") {
			found = true
		}
	}
	if !found {
		t.Errorf("no diagnostic for hello.wav at t.yaml:7:15 in %v", diags)
	}
}

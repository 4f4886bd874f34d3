package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/ivrd/ivrd/ivr"
)

// fakeTTS renders nothing: it returns a path derived from the text and
// counts its calls.
type fakeTTS struct {
	mu    sync.Mutex
	calls map[string]int
	fail  string // text whose rendering fails
}

var errFakeTTS = errors.New("synthesizer failed")

func (f *fakeTTS) Render(ctx context.Context, text, lang string) (ivr.Audio, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[lang+"|"+text]++
	if f.fail != "" && strings.Contains(text, f.fail) {
		return ivr.Audio{}, errFakeTTS
	}
	sum := sha256.Sum256([]byte(lang + text))
	id := hex.EncodeToString(sum[:8])
	return ivr.Audio{Path: "/cache/" + id + ".wav", Text: text, ID: id}, nil
}

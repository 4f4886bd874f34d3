package web

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/ivrd/ivrd/media"
)

// PromptSource resolves the content id of a prompt of the loaded flows
// (ivr.Audio.ID) to its WAV file. Only ids are ever taken from a request;
// a path never is. PromptPath must be safe to call from any goroutine.
type PromptSource interface {
	PromptPath(id string) (path string, ok bool)
}

// promptSampleRate is what GET /prompts serves: 8 kHz mono PCM16, which
// Asterisk plays without a codec module for μ-law or A-law WAV files.
const promptSampleRate = 8000

// maxSilence bounds a generated silence.
const maxSilence = time.Minute

// getPrompt serves GET /prompts/{id}.wav: the prompt with that content id
// as 8 kHz PCM16 WAV, for players that fetch prompts over HTTP (Asterisk's
// media cache). An id is a content hash, so a response never changes and
// may be cached for ever. Ids of the form silence-<duration> ("silence-500ms",
// the ids the loader gives pauses) are generated.
func (s *Server) getPrompt(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Prompts == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, "prompts not available")
		return
	}
	id, ok := strings.CutSuffix(r.PathValue("file"), ".wav")
	if !ok || !validPromptID(id) {
		s.writeError(w, r, http.StatusNotFound, "unknown prompt")
		return
	}
	samples, ok := silence(id)
	if !ok {
		path, found := s.cfg.Prompts.PromptPath(id)
		if !found {
			s.writeError(w, r, http.StatusNotFound, "unknown prompt")
			return
		}
		var err error
		if samples, err = media.LoadWAV(path); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	var buf bytes.Buffer
	buf.Grow(44 + 2*len(samples))
	if err := media.WriteWAV(&buf, samples, promptSampleRate, 1); err != nil {
		s.internalError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+id+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
}

// validPromptID accepts the characters of content hashes and generated ids
// only, so nothing that looks like a path reaches a PromptSource.
func validPromptID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return !strings.Contains(id, "..")
}

// silence returns the samples of a generated silence id.
func silence(id string) ([]int16, bool) {
	v, ok := strings.CutPrefix(id, "silence-")
	if !ok {
		return nil, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxSilence {
		return nil, false
	}
	return make([]int16, int(d*promptSampleRate/time.Second)), true
}

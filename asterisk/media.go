package asterisk

import (
	"log/slog"
	"strings"

	"github.com/ivrd/ivrd/ivr"
)

// mediaURIs maps prompts to ARI media URIs:
//
//   - Audio.Path: sound:{PromptBaseURL}/{Audio.ID}.wav, which Asterisk
//     fetches from ivrd once and keeps in its media cache; the id is a
//     content hash, so a changed prompt gets a new URL.
//   - Audio.Sound: sound:{name}, one of Asterisk's own sounds.
//   - Audio.Silence: sound:{PromptBaseURL}/silence-{duration}.wav, a
//     silence ivrd generates (Asterisk has no silence: media).
//
// Audio that cannot be played here is skipped and logged.
func (d *Driver) mediaURIs(log *slog.Logger, prompts []ivr.Audio) []string {
	out := make([]string, 0, len(prompts))
	for _, a := range prompts {
		switch {
		case a.Path != "":
			if a.ID == "" || d.cfg.PromptBaseURL == "" {
				log.Warn("play: prompt has no URL for Asterisk, skipped", "text", a.Text)
				continue
			}
			out = append(out, "sound:"+d.cfg.PromptBaseURL+"/"+a.ID+".wav")
		case a.Sound != "":
			out = append(out, "sound:"+strings.TrimPrefix(a.Sound, "sound:"))
		case a.Silence > 0:
			if d.cfg.PromptBaseURL == "" {
				continue
			}
			out = append(out, "sound:"+d.cfg.PromptBaseURL+"/silence-"+a.Silence.String()+".wav")
		}
	}
	return out
}

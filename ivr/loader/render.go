package loader

import (
	"context"
	"runtime"
	"sync"

	"github.com/ivrd/ivrd/ivr"
)

// renderKey is one text to speak in one language.
type renderKey struct{ lang, text string }

// render synthesizes every `say:` part and each language's vocabulary once,
// a few at a time; the TTS caches on disk, so a reload renders only new text.
func (l *load) render(ctx context.Context, flows []*parsedFlow) {
	vocab := map[string]map[string]ivr.Audio{}
	for _, pf := range flows {
		lang := pf.flow.Language
		if _, ok := vocab[lang]; !ok {
			vocab[lang] = map[string]ivr.Audio{}
		}
		pf.flow.Vocabulary = vocab[lang]
	}
	if l.opts.TTS == nil {
		for lang, v := range vocab {
			words, _ := ivr.VocabularyText(lang)
			for k, w := range words {
				v[k] = ivr.Audio{Text: w}
			}
		}
		return
	}
	type job struct {
		key renderKey
		pos ivr.Position
	}
	var jobs []job
	want := map[renderKey][]func(ivr.Audio){}
	add := func(k renderKey, pos ivr.Position, done func(ivr.Audio)) {
		if _, ok := want[k]; !ok {
			jobs = append(jobs, job{key: k, pos: pos})
		}
		want[k] = append(want[k], done)
	}
	for _, pf := range flows {
		lang := pf.flow.Language
		for _, s := range pf.says {
			a := s.audio
			add(renderKey{lang, a.Text}, s.pos, func(r ivr.Audio) { *a = r })
		}
	}
	for _, pf := range flows {
		lang := pf.flow.Language
		v := vocab[lang]
		words, _ := ivr.VocabularyText(lang)
		for k, w := range words {
			if _, ok := v[k]; ok {
				continue
			}
			v[k] = ivr.Audio{Text: w}
			add(renderKey{lang, w}, pf.langPos, func(r ivr.Audio) { v[k] = r })
		}
	}

	results := make([]ivr.Audio, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = context.Cause(ctx)
				return
			}
			defer func() { <-sem }()
			results[i], errs[i] = l.opts.TTS.Render(ctx, j.key.text, j.key.lang)
		})
	}
	wg.Wait()
	for i, j := range jobs {
		if errs[i] != nil {
			l.errorAt(j.pos, "render %q: %v", j.key.text, errs[i])
			continue
		}
		if results[i].Text == "" {
			results[i].Text = j.key.text
		}
		for _, done := range want[j.key] {
			done(results[i])
		}
	}
}

package media

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// PromptCache holds decoded prompts so each WAV file is read once, not once
// per call. An entry is keyed by path and revalidated against the file's size
// and modification time, so a prompt replaced on disk is picked up on its
// next use. It is safe for concurrent use; the returned samples are shared
// and must not be modified.
type PromptCache struct {
	mu      sync.Mutex
	entries map[string]promptEntry
}

type promptEntry struct {
	size    int64
	modTime time.Time
	samples []int16
}

// NewPromptCache returns an empty cache.
func NewPromptCache() *PromptCache {
	return &PromptCache{entries: make(map[string]promptEntry)}
}

// Load returns the samples of the WAV file at path, from the cache when the
// file did not change since it was loaded.
func (c *PromptCache) Load(path string) ([]int16, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat prompt: %w", err)
	}
	c.mu.Lock()
	e, ok := c.entries[path]
	c.mu.Unlock()
	if ok && e.size == fi.Size() && e.modTime.Equal(fi.ModTime()) {
		return e.samples, nil
	}

	// Two calls may load a new prompt at the same time; both get the same
	// audio and the last one stored wins, which is harmless.
	samples, err := LoadWAV(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[path] = promptEntry{size: fi.Size(), modTime: fi.ModTime(), samples: samples}
	c.mu.Unlock()
	return samples, nil
}

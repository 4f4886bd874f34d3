package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ivrd/ivrd/ivr"
)

// debounce groups the burst of events an editor makes when it saves;
// maxDelay bounds the wait when changes never stop (a copy in progress).
const (
	debounce = 200 * time.Millisecond
	maxDelay = 2 * time.Second
)

// Library holds the current FlowSet. Reload builds a new one and swaps it in
// atomically; when the flows have errors the previous set keeps serving.
type Library struct {
	opts    Options
	current atomic.Pointer[ivr.FlowSet]

	reload sync.Mutex // one reload at a time

	mu     sync.Mutex
	status Status
}

// Status is the outcome of the last reload, for the HTTP API.
type Status struct {
	// LoadedAt is when the FlowSet now serving was loaded; zero if none.
	LoadedAt time.Time `json:"loaded_at"`
	// LastReload is when the last reload ran, successful or not.
	LastReload time.Time `json:"last_reload"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	// Diagnostics of the last reload: its errors, or the warnings of the
	// set now serving.
	Diagnostics []Diagnostic `json:"diagnostics"`
	Flows       []FlowInfo   `json:"flows"`
}

// Diagnostic is ivr.Diagnostic flattened for JSON.
type Diagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Col      int    `json:"col,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// FlowInfo describes a flow now serving.
type FlowInfo struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Version  string `json:"version"`
	Language string `json:"language"`
	Nodes    int    `json:"nodes"`
}

// NewLibrary returns a Library with no flows; call Reload to load them.
func NewLibrary(opts Options) *Library {
	return &Library{opts: opts}
}

// Current returns the FlowSet now serving, or nil before the first
// successful Reload.
func (l *Library) Current() *ivr.FlowSet {
	return l.current.Load()
}

// Status returns the outcome of the last reload.
func (l *Library) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.status
	s.Diagnostics = slices.Clone(s.Diagnostics)
	s.Flows = slices.Clone(s.Flows)
	return s
}

// Reload loads the flows folder and, if it has no errors, serves it.
func (l *Library) Reload(ctx context.Context) error {
	l.reload.Lock()
	defer l.reload.Unlock()
	log := l.opts.logger()
	set, diags, err := Load(ctx, l.opts)
	st := Status{LastReload: time.Now(), OK: err == nil, Diagnostics: flatten(diags)}
	if err != nil {
		st.Error = err.Error()
		if cur := l.current.Load(); cur != nil {
			st.LoadedAt = cur.LoadedAt
			st.Flows = infos(cur)
		}
		l.setStatus(st)
		log.Error("flows not reloaded, previous flows keep serving", "dir", l.opts.Dir, "err", err)
		return err
	}
	l.current.Store(set)
	st.LoadedAt = set.LoadedAt
	st.Flows = infos(set)
	l.setStatus(st)
	for _, w := range set.Warnings {
		log.Warn("flow lint", "warning", w.String())
	}
	log.Info("flows loaded", "dir", l.opts.Dir, "flows", len(set.Flows), "warnings", len(set.Warnings))
	return nil
}

func (l *Library) setStatus(s Status) {
	l.mu.Lock()
	l.status = s
	l.mu.Unlock()
}

func flatten(ds []ivr.Diagnostic) []Diagnostic {
	out := make([]Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = Diagnostic{File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col, Severity: string(d.Severity), Message: d.Message}
	}
	return out
}

func infos(set *ivr.FlowSet) []FlowInfo {
	out := make([]FlowInfo, 0, len(set.Flows))
	for _, f := range set.Flows {
		out = append(out, FlowInfo{Name: f.Name, File: f.File, Version: f.Version, Language: f.Language, Nodes: len(f.Nodes)})
	}
	slices.SortFunc(out, func(a, b FlowInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Watch reloads the library when a file of the flows folder or of the
// prompts folder changes, after a short quiet period. A failed reload is
// logged and keeps the previous flows. Watch returns nil when ctx is done.
func (l *Library) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch flows: %w", err)
	}
	defer w.Close()
	if err := w.Add(l.opts.Dir); err != nil {
		return fmt.Errorf("watch flows %s: %w", l.opts.Dir, err)
	}
	log := l.opts.logger()
	if err := l.watchPrompts(w); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var pending time.Time // first change not yet reloaded
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) {
				continue
			}
			now := time.Now()
			if pending.IsZero() {
				pending = now
			}
			timer.Reset(max(0, min(debounce, pending.Add(maxDelay).Sub(now))))
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("watch flows", "err", err)
		case <-timer.C:
			pending = time.Time{}
			// The change may be a new prompts or language folder.
			if err := l.watchPrompts(w); err != nil {
				log.Warn("watch flows", "err", err)
			}
			if err := l.Reload(ctx); err != nil && errors.Is(err, context.Canceled) {
				return nil
			}
		}
	}
}

// watchPrompts adds the prompts folder and its language subfolders to w:
// fsnotify does not watch subfolders. The prompts folder is optional.
// Adding a folder already watched is harmless.
func (l *Library) watchPrompts(w *fsnotify.Watcher) error {
	pd := l.opts.promptDir()
	if !dirExists(pd) {
		return nil
	}
	if err := w.Add(pd); err != nil {
		return fmt.Errorf("watch prompts %s: %w", pd, err)
	}
	entries, err := os.ReadDir(pd)
	if err != nil {
		return fmt.Errorf("watch prompts %s: %w", pd, err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sub := filepath.Join(pd, e.Name())
		if err := w.Add(sub); err != nil {
			return fmt.Errorf("watch prompts %s: %w", sub, err)
		}
	}
	return nil
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

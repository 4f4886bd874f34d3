package loader

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLibraryReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, twoFlows)
	lib := NewLibrary(Options{Dir: dir, TTS: &fakeTTS{}, Logger: quiet})
	if lib.Current() != nil {
		t.Fatal("flows before the first reload")
	}
	if err := lib.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := lib.Current()
	if good == nil || len(good.Flows) != 2 {
		t.Fatalf("Current = %+v", good)
	}
	if st := lib.Status(); !st.OK || len(st.Flows) != 2 || st.Flows[0].Name != "a" {
		t.Errorf("Status = %+v", st)
	}

	// Break a flow: the reload fails and the good set keeps serving.
	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("flow: b\nlanguage: fr\nentry: nowhere\nnodes: {x: {hangup: }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := lib.Reload(context.Background())
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reload = %v, want ErrInvalid", err)
	}
	if lib.Current() != good {
		t.Error("a failed reload replaced the flows")
	}
	st := lib.Status()
	if st.OK || st.Error == "" || !st.LoadedAt.Equal(good.LoadedAt) || len(st.Flows) != 2 {
		t.Errorf("Status after failure = %+v", st)
	}
	var found bool
	for _, d := range st.Diagnostics {
		if d.Severity == "error" && d.Line == 3 && d.Col == 8 && strings.Contains(d.Message, `unknown node "nowhere"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("Status diagnostics = %+v", st.Diagnostics)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"line":3,"col":8`) {
		t.Errorf("Status JSON = %s, %v", b, err)
	}
}

func TestLibraryWatch(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, twoFlows)
	lib := NewLibrary(Options{Dir: dir, TTS: &fakeTTS{}, Logger: quiet})
	if err := lib.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := lib.Current()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lib.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}()

	// Keep editing until the watcher is surely running and has reloaded.
	path := filepath.Join(dir, "b.yaml")
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		content := strings.Replace(strings.Split(twoFlows, "-- b.yaml --\n")[1], "Bonjour.", "Bonsoir.", 1)
		if err := os.WriteFile(path, []byte(content+strings.Repeat("#\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if cur := lib.Current(); cur != first {
			if got := cur.Flows["b"].Nodes["hello"].Play.Prompt[0].Audio.Text; got != "Bonsoir." {
				t.Errorf("reloaded prompt = %q", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload after an edit")
		}
	}
}

var quiet = slog.New(slog.DiscardHandler)

// A recording replaced in a language folder of prompts/ is reloaded too.
func TestLibraryWatchLanguagePrompts(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, `-- entrypoints.yaml --
default: en
-- prompts/en/hello.wav --
v0
-- en.yaml --
flow: en
language: en
entry: hello
nodes:
  hello:
    play: {file: hello.wav}
`)
	lib := NewLibrary(Options{Dir: dir, Logger: quiet})
	if err := lib.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := lib.Current()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lib.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}()
	path := filepath.Join(dir, "prompts", "en", "hello.wav")
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; ; i++ {
		if err := os.WriteFile(path, []byte(strings.Repeat("v", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if cur := lib.Current(); cur != first {
			old := first.Flows["en"].Nodes["hello"].Play.Prompt[0].Audio.ID
			if cur.Flows["en"].Nodes["hello"].Play.Prompt[0].Audio.ID == old {
				t.Error("reloaded prompt kept the old recording's id")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload after a recording in prompts/en changed")
		}
	}
}

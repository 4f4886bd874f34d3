package loader

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A `file:` prompt is looked up in prompts/<language>/ first, then in
// prompts/.
func TestPromptLanguageFolder(t *testing.T) {
	dir := extract(t, filepath.Join("testdata", "lint", "translation-prompts.txt"))
	set, _, err := Load(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "prompts")
	tests := []struct {
		flow string
		part int
		want string
	}{
		{"fr", 0, filepath.Join(prompts, "fr", "bonjour.wav")},
		{"fr", 1, filepath.Join(prompts, "jingle.wav")},
		{"fr", 2, filepath.Join(prompts, "fr", "merci.wav")},
		{"en", 0, filepath.Join(prompts, "bonjour.wav")},
		{"en", 1, filepath.Join(prompts, "jingle.wav")},
		{"en", 2, filepath.Join(prompts, "en", "merci.wav")},
	}
	for _, tt := range tests {
		play := set.Flows[tt.flow].Nodes["a"].Play
		if got := play.Prompt[tt.part].Audio.Path; got != tt.want {
			t.Errorf("%s part %d: path %s, want %s", tt.flow, tt.part, got, tt.want)
		}
	}
}

// welcome-en is checked against accueil-fr: routing its technical calls to
// another queue is reported.
func TestShippedTranslation(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"entrypoints.yaml", "accueil-fr.yaml", "welcome-en.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "flows", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "welcome-en.yaml" {
			b = bytes.Replace(b, []byte("name: support-technique"), []byte("name: support-en"), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, diags, err := Load(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := "welcome-en.yaml:58:3: warning: queue technique hands calls to queue support-en but the same node of accueil-fr to support-technique"
	if len(set.Warnings) != 1 || !strings.HasPrefix(relative(dir, diags[0]), want) {
		t.Errorf("warnings = %v, want one: %s", diags, want)
	}
}

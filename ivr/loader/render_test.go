package loader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
)

const twoFlows = `-- entrypoints.yaml --
entrypoints:
  - {number: "1", flow: a}
  - {number: "2", flow: b}
-- a.yaml --
flow: a
language: fr
entry: hello
nodes:
  hello:
    play: ["Bonjour.", {number: "${n}"}, {sound: beep}]
    next: bye
  bye:
    hangup: {prompt: "Bonjour."}
-- b.yaml --
flow: b
language: fr
entry: hello
nodes:
  hello:
    play: "Bonjour."
`

func TestRenderOncePerText(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, twoFlows)
	tts := &fakeTTS{}
	set, _, err := Load(context.Background(), Options{Dir: dir, TTS: tts})
	if err != nil {
		t.Fatal(err)
	}
	if n := tts.calls["fr|Bonjour."]; n != 1 {
		t.Errorf("Bonjour. rendered %d times, want once", n)
	}
	words, _ := ivr.VocabularyText("fr")
	if got, want := len(tts.calls), len(words)+1; got != want {
		t.Errorf("%d renders, want %d (vocabulary + one prompt)", got, want)
	}
	a, b := set.Flows["a"], set.Flows["b"]
	hello := a.Nodes["hello"].Play.Prompt
	if hello[0].Audio.Path == "" || hello[0].Audio.Path != b.Nodes["hello"].Play.Prompt[0].Audio.Path {
		t.Errorf("same text, different audio: %+v", hello[0].Audio)
	}
	if hello[1].Number != "${n}" || hello[2].Audio.Sound != "beep" {
		t.Errorf("prompt parts = %+v", hello)
	}
	if got := a.Say(ivr.NumberWords("fr", 99)); len(got) != 2 || got[0].Text != "quatre-vingt" || got[0].Path == "" {
		t.Errorf("Say(99) = %+v", got)
	}
}

func TestRenderFailure(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, twoFlows)
	_, diags, err := Load(context.Background(), Options{Dir: dir, TTS: &fakeTTS{fail: "Bonjour"}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if len(diags) == 0 || !strings.Contains(diags[0].String(), "a.yaml:6:12: error: render \"Bonjour.\": synthesizer failed") {
		t.Errorf("diagnostics = %v", diags)
	}
}

// Without a TTS the flows are validated only.
func TestLoadWithoutTTS(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, twoFlows)
	set, _, err := Load(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if a := set.Flows["a"].Nodes["hello"].Play.Prompt[0].Audio; a.Path != "" || a.Text != "Bonjour." {
		t.Errorf("audio = %+v", a)
	}
}

func TestVersionIsContentHash(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, twoFlows)
	set1, _, err := Load(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "b.yaml")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, "# edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	set2, _, err := Load(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if set1.Flows["a"].Version != set2.Flows["a"].Version {
		t.Error("unchanged flow changed version")
	}
	if set1.Flows["b"].Version == set2.Flows["b"].Version {
		t.Error("edited flow kept its version")
	}
}

func FuzzParseFlow(f *testing.F) {
	for _, name := range []string{"accueil-fr.yaml", "welcome-en.yaml", "entrypoints.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "flows", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a, *a]\nb: *a"))
	f.Add([]byte("flow: t\nnodes: {a: {branch: [{if: {not: {all: [{var: x, in: [1]}]}}, goto: a}]}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := newDecoder("f.yaml")
		parseFlow(d, b, filepath.Join("testdata", "no-prompts"), nil)
		parseEntrypoints(newDecoder("e.yaml"), b)
		for _, diag := range d.diags {
			if diag.Pos.File != "f.yaml" {
				t.Fatalf("diagnostic without its file: %v", diag)
			}
		}
	})
}

func FuzzLoad(f *testing.F) {
	fr, err := os.ReadFile(filepath.Join("..", "..", "flows", "accueil-fr.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	en, err := os.ReadFile(filepath.Join("..", "..", "flows", "welcome-en.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fr)
	f.Add(en) // a translation of the original below
	// One folder per fuzzing process: a new one per input would be slower
	// than the load itself.
	dir := f.TempDir()
	writeArchive(f, dir, "-- entrypoints.yaml --\ndefault: accueil-fr\n-- original.yaml --\n"+string(fr))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "f.yaml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		set, diags, err := Load(context.Background(), Options{Dir: dir, TTS: &fakeTTS{}})
		if (err == nil) != (set != nil) {
			t.Fatalf("set %v with err %v", set, err)
		}
		if err != nil && len(diags) == 0 {
			t.Fatal("error without diagnostics")
		}
	})
}

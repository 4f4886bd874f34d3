package ivr

import (
	"strings"
	"testing"
)

// spell renders keys with the language's words, joined the way they are written.
func spell(t *testing.T, lang string, keys []string) string {
	t.Helper()
	text, ok := VocabularyText(lang)
	if !ok {
		t.Fatalf("no vocabulary for %q", lang)
	}
	words := make([]string, len(keys))
	for i, k := range keys {
		w, ok := text[k]
		if !ok {
			t.Fatalf("key %q missing from %s vocabulary", k, lang)
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

func TestNumberWordsFrench(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "zéro"},
		{1, "un"},
		{16, "seize"},
		{17, "dix-sept"},
		{20, "vingt"},
		{21, "vingt et un"},
		{22, "vingt deux"},
		{31, "trente et un"},
		{61, "soixante et un"},
		{70, "soixante dix"},
		{71, "soixante et onze"},
		{72, "soixante douze"},
		{79, "soixante dix-neuf"},
		{80, "quatre-vingts"},
		{81, "quatre-vingt un"},
		{90, "quatre-vingt dix"},
		{91, "quatre-vingt onze"},
		{99, "quatre-vingt dix-neuf"},
		{100, "cent"},
		{101, "cent un"},
		{180, "cent quatre-vingts"},
		{200, "deux cents"},
		{201, "deux cent un"},
		{1000, "mille"},
		{1001, "mille un"},
		{2000, "deux mille"},
		{80000, "quatre-vingt mille"},
		{200000, "deux cent mille"},
		{21000, "vingt et un mille"},
		{1_000_000, "un million"},
		{2_000_000, "deux millions"},
		{200_000_000, "deux cents millions"},
		{1_234_567, "un million deux cent trente quatre mille cinq cent soixante sept"},
		{-5, "moins cinq"},
		{1_000_000_000, "un zéro zéro zéro zéro zéro zéro zéro zéro zéro"},
	}
	for _, tt := range tests {
		if got := spell(t, "fr", NumberWords("fr", tt.n)); got != tt.want {
			t.Errorf("NumberWords(fr, %d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestNumberWordsEnglish(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "zero"},
		{13, "thirteen"},
		{20, "twenty"},
		{21, "twenty one"},
		{70, "seventy"},
		{99, "ninety nine"},
		{100, "one hundred"},
		{105, "one hundred five"},
		{1000, "one thousand"},
		{12_345, "twelve thousand three hundred forty five"},
		{2_000_001, "two million one"},
		{-40, "minus forty"},
	}
	for _, tt := range tests {
		if got := spell(t, "en", NumberWords("en", tt.n)); got != tt.want {
			t.Errorf("NumberWords(en, %d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestNumberWordsUnknownLanguage(t *testing.T) {
	got := strings.Join(NumberWords("de", 42), " ")
	if got != "4 2" {
		t.Errorf("NumberWords(de, 42) = %q, want digit by digit", got)
	}
}

func TestDigitWords(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"0123", "0 1 2 3"},
		{"+33 1-23*#", "plus 3 3 1 2 3 star hash"},
		{"abc", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(DigitWords(tt.in), " "); got != tt.want {
			t.Errorf("DigitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every key NumberWords can produce must be in the vocabulary, or a call
// would read a number with holes in it.
func TestNumberWordsCoveredByVocabulary(t *testing.T) {
	for _, lang := range []string{"fr", "en"} {
		text, _ := VocabularyText(lang)
		for n := -1000; n <= 1_000_000; n += 7 {
			for _, k := range NumberWords(lang, n) {
				if _, ok := text[k]; !ok {
					t.Fatalf("NumberWords(%s, %d) uses %q, not in the vocabulary", lang, n, k)
				}
			}
		}
	}
}

func TestFlowSay(t *testing.T) {
	f := &Flow{Vocabulary: map[string]Audio{
		"4": {Path: "4.wav", Text: "quatre"},
		"2": {Path: "2.wav", Text: "deux"},
	}}
	got := f.Say([]string{"4", "missing", "2"})
	if len(got) != 2 || got[0].Text != "quatre" || got[1].Text != "deux" {
		t.Errorf("Say = %+v", got)
	}
}

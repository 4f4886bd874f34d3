package ivr

import "strconv"

// Say-digits and say-number prompts are built at run time from words
// rendered once at load time (Flow.Vocabulary). The functions below only
// split a value into vocabulary keys; they never synthesize anything, so a
// call never waits for text to speech.
//
// Vocabulary keys are language neutral: "0".."19" and the tens "20".."90"
// are the numbers themselves; the other keys are listed in VocabularyText.

// Vocabulary keys that are not plain numbers.
const (
	WordHundred  = "hundred"  // fr "cent", en "hundred"
	WordHundreds = "hundreds" // fr "cents" (plural, nothing follows)
	WordEighties = "80s"      // fr "quatre-vingts" (plural, nothing follows)
	WordThousand = "thousand" // fr "mille", en "thousand"
	WordMillion  = "million"  // fr "million", en "million"
	WordMillions = "millions" // fr "millions"
	WordAnd      = "et"       // fr "et" (vingt et un)
	WordMinus    = "minus"    // fr "moins", en "minus"
	WordStar     = "star"     // the * key
	WordHash     = "hash"     // the # key
	WordPlus     = "plus"     // the + of an international number
	WordGoodbye  = "goodbye"  // said before ivrd hangs up after the last failed try
)

const (
	maxSayNumber = 999_999_999 // larger numbers are read digit by digit
	minSayNumber = -maxSayNumber
	frenchLang   = "fr"
	englishLang  = "en"
)

var frenchWords = map[string]string{
	"0": "zéro", "1": "un", "2": "deux", "3": "trois", "4": "quatre",
	"5": "cinq", "6": "six", "7": "sept", "8": "huit", "9": "neuf",
	"10": "dix", "11": "onze", "12": "douze", "13": "treize", "14": "quatorze",
	"15": "quinze", "16": "seize", "17": "dix-sept", "18": "dix-huit", "19": "dix-neuf",
	"20": "vingt", "30": "trente", "40": "quarante", "50": "cinquante", "60": "soixante",
	"80":         "quatre-vingt",
	WordEighties: "quatre-vingts",
	WordHundred:  "cent", WordHundreds: "cents",
	WordThousand: "mille",
	WordMillion:  "million", WordMillions: "millions",
	WordAnd:   "et",
	WordMinus: "moins",
	WordStar:  "étoile", WordHash: "dièse", WordPlus: "plus",
	WordGoodbye: "Nous n'avons pas pu traiter votre demande. Au revoir.",
}

var englishWords = map[string]string{
	"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
	"5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine",
	"10": "ten", "11": "eleven", "12": "twelve", "13": "thirteen", "14": "fourteen",
	"15": "fifteen", "16": "sixteen", "17": "seventeen", "18": "eighteen", "19": "nineteen",
	"20": "twenty", "30": "thirty", "40": "forty", "50": "fifty",
	"60": "sixty", "70": "seventy", "80": "eighty", "90": "ninety",
	WordHundred:  "hundred",
	WordThousand: "thousand",
	WordMillion:  "million",
	WordMinus:    "minus",
	WordStar:     "star", WordHash: "hash", WordPlus: "plus",
	WordGoodbye: "We could not handle your request. Goodbye.",
}

// VocabularyText returns the words a language needs for say-digits and
// say-number, by vocabulary key, and whether the language is supported. The
// caller must not modify the map.
func VocabularyText(lang string) (map[string]string, bool) {
	switch lang {
	case frenchLang:
		return frenchWords, true
	case englishLang:
		return englishWords, true
	}
	return nil, false
}

// DigitWords splits s into one vocabulary key per key of a phone keypad:
// digits, * and #, and a leading +. Other characters (spaces, dashes) are
// skipped.
func DigitWords(s string) []string {
	words := make([]string, 0, len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			words = append(words, string(r))
		case r == '*':
			words = append(words, WordStar)
		case r == '#':
			words = append(words, WordHash)
		case r == '+':
			words = append(words, WordPlus)
		}
	}
	return words
}

// NumberWords returns the vocabulary keys that read n aloud in lang ("fr" or
// "en"). Numbers beyond ±999 999 999 and unknown languages fall back to digit
// by digit.
func NumberWords(lang string, n int) []string {
	if n < minSayNumber || n > maxSayNumber {
		return DigitWords(strconv.Itoa(n))
	}
	var words []string
	if n < 0 {
		words = append(words, WordMinus)
		n = -n
	}
	switch lang {
	case frenchLang:
		return frenchNumber(words, n)
	case englishLang:
		return englishNumber(words, n)
	}
	return append(words, DigitWords(strconv.Itoa(n))...)
}

func frenchNumber(w []string, n int) []string {
	if n == 0 {
		return append(w, "0")
	}
	millions, thousands, rest := n/1_000_000, n/1000%1000, n%1000
	if millions > 0 {
		// "million" is a noun: "deux cents millions" takes the plurals.
		w = frenchGroup(w, millions, true)
		if millions == 1 {
			w = append(w, WordMillion)
		} else {
			w = append(w, WordMillions)
		}
	}
	if thousands > 0 {
		// "mille" is invariable and never preceded by "un"; the numeral
		// before it keeps "cent" and "quatre-vingt" singular.
		if thousands > 1 {
			w = frenchGroup(w, thousands, false)
		}
		w = append(w, WordThousand)
	}
	if rest > 0 {
		w = frenchGroup(w, rest, true)
	}
	return w
}

// frenchGroup reads 1..999. plural says whether "cent" and "quatre-vingt"
// take their s when they end the number.
func frenchGroup(w []string, n int, plural bool) []string {
	hundreds, rest := n/100, n%100
	switch {
	case hundreds == 1:
		w = append(w, WordHundred)
	case hundreds > 1:
		w = append(w, strconv.Itoa(hundreds))
		if rest == 0 && plural {
			w = append(w, WordHundreds)
		} else {
			w = append(w, WordHundred)
		}
	}
	if rest == 0 {
		return w
	}
	if rest < 20 {
		return append(w, strconv.Itoa(rest))
	}
	tens, units := rest/10, rest%10
	switch tens {
	case 7: // soixante-dix, soixante et onze, soixante-douze
		w = append(w, "60")
		if units == 1 {
			w = append(w, WordAnd)
		}
		return append(w, strconv.Itoa(10+units))
	case 8: // quatre-vingts, quatre-vingt-un (no "et")
		if units == 0 {
			if plural {
				return append(w, WordEighties)
			}
			return append(w, "80")
		}
		return append(w, "80", strconv.Itoa(units))
	case 9: // quatre-vingt-dix, quatre-vingt-onze
		return append(w, "80", strconv.Itoa(10+units))
	}
	w = append(w, strconv.Itoa(tens*10))
	switch units {
	case 0:
	case 1:
		w = append(w, WordAnd, "1")
	default:
		w = append(w, strconv.Itoa(units))
	}
	return w
}

func englishNumber(w []string, n int) []string {
	if n == 0 {
		return append(w, "0")
	}
	millions, thousands, rest := n/1_000_000, n/1000%1000, n%1000
	if millions > 0 {
		w = append(englishGroup(w, millions), WordMillion)
	}
	if thousands > 0 {
		w = append(englishGroup(w, thousands), WordThousand)
	}
	if rest > 0 {
		w = englishGroup(w, rest)
	}
	return w
}

// englishGroup reads 1..999 the American way ("one hundred five").
func englishGroup(w []string, n int) []string {
	hundreds, rest := n/100, n%100
	if hundreds > 0 {
		w = append(w, strconv.Itoa(hundreds), WordHundred)
	}
	switch {
	case rest == 0:
	case rest < 20:
		w = append(w, strconv.Itoa(rest))
	default:
		w = append(w, strconv.Itoa(rest/10*10))
		if rest%10 != 0 {
			w = append(w, strconv.Itoa(rest%10))
		}
	}
	return w
}

// Say resolves vocabulary keys to the flow's pre-rendered audio. Keys the
// vocabulary lacks are skipped: a flow loaded by the loader always has them.
func (f *Flow) Say(words []string) []Audio {
	out := make([]Audio, 0, len(words))
	for _, w := range words {
		if a, ok := f.Vocabulary[w]; ok {
			out = append(out, a)
		}
	}
	return out
}

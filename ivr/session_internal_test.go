package ivr

import (
	"log/slog"
	"testing"
)

// The type-ahead buffer grows on demand but never beyond typeAheadSize;
// every key still reaches the call record's digits.
func TestPushTypeAheadLimit(t *testing.T) {
	tests := []struct {
		name     string
		keys     int
		buffered int
	}{
		{"none", 0, 0},
		{"few", 3, 3},
		{"full", typeAheadSize, typeAheadSize},
		{"over", typeAheadSize + 8, typeAheadSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(nil, WithLogger(slog.New(slog.DiscardHandler)))
			s := newSession(e, nil, &Flow{Name: "f", Language: "en"}, &CallRecord{ID: "c"}, e.logger)
			for i := range tt.keys {
				s.push(DTMF{Digit: rune('0' + i%10)})
			}
			if len(s.buf) != tt.buffered || len(s.digits) != tt.keys {
				t.Fatalf("buffered %d keys and recorded %d, want %d and %d", len(s.buf), len(s.digits), tt.buffered, tt.keys)
			}
			for i := range tt.buffered {
				if k := s.pop(); k.Digit != rune('0'+i%10) || k.pos != i {
					t.Fatalf("key %d: %q at %d, want %q at %d", i, k.Digit, k.pos, rune('0'+i%10), i)
				}
			}
		})
	}
}

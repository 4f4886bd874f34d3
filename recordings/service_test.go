package recordings

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

func TestNewValidates(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := 24 * time.Hour
	tests := []struct {
		name      string
		db        *store.DB
		cfg       Config
		want      error
		retention time.Duration
		msg       string
	}{
		{name: "default retention", db: db, cfg: Config{}, retention: DefaultRetention},
		{name: "180 days", db: db, cfg: Config{Retention: 180 * day}, retention: 180 * day},
		{name: "181 days is the maximum", db: db, cfg: Config{Retention: 181 * day}, retention: 181 * day},
		{name: "one hour", db: db, cfg: Config{Retention: time.Hour}, retention: time.Hour},
		{name: "182 days", db: db, cfg: Config{Retention: 182 * day}, want: ErrRetentionTooLong, msg: "CNIL deliberation 2014-474"},
		{name: "a second over", db: db, cfg: Config{Retention: MaxRetention + time.Second}, want: ErrRetentionTooLong, msg: "6 months"},
		{name: "one year", db: db, cfg: Config{Retention: 365 * day}, want: ErrRetentionTooLong, msg: "365 days"},
		{name: "negative", db: db, cfg: Config{Retention: -day}, want: ErrInvalid},
		{name: "short key", db: db, cfg: Config{Key: make([]byte, 16)}, want: audiofile.ErrBadKey},
		{name: "no store", cfg: Config{}, want: ErrInvalid},
		{name: "no folder", db: db, cfg: Config{Dir: "-"}, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			switch cfg.Dir {
			case "":
				cfg.Dir = filepath.Join(t.TempDir(), "rec")
			case "-":
				cfg.Dir = ""
			}
			s, err := New(tt.db, cfg)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("New = %v, want %v", err, tt.want)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not mention %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Retention() != tt.retention {
				t.Errorf("retention %v, want %v", s.Retention(), tt.retention)
			}
			if !exists(t, cfg.Dir) {
				t.Errorf("folder %s not created", cfg.Dir)
			}
		})
	}
}

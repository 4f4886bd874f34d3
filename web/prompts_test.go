package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ivrd/ivrd/media"
)

type promptMap map[string]string

func (m promptMap) PromptPath(id string) (string, bool) {
	p, ok := m[id]
	return p, ok
}

func TestGetPrompt(t *testing.T) {
	dir := t.TempDir()
	samples := []int16{0, 1000, -1000, 32767, -32768, 42}
	var wav bytes.Buffer
	if err := media.WriteWAV(&wav, samples, 8000, 1); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "hello.wav")
	if err := os.WriteFile(good, wav.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.wav")
	if err := os.WriteFile(broken, []byte("not a wav"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := promptMap{"0123abcd": good, "bad0": broken, "gone": filepath.Join(dir, "missing.wav")}

	tests := []struct {
		name    string
		path    string
		status  int
		samples int // samples in the WAV served
	}{
		{name: "known id", path: "/prompts/0123abcd.wav", status: http.StatusOK, samples: len(samples)},
		{name: "silence", path: "/prompts/silence-250ms.wav", status: http.StatusOK, samples: 2000},
		{name: "unknown id", path: "/prompts/ffff.wav", status: http.StatusNotFound},
		{name: "no extension", path: "/prompts/0123abcd", status: http.StatusNotFound},
		{name: "other extension", path: "/prompts/0123abcd.mp3", status: http.StatusNotFound},
		{name: "dot dot", path: "/prompts/..%2Fhello.wav", status: http.StatusNotFound},
		{name: "escaped slash", path: "/prompts/%2Fetc%2Fpasswd.wav", status: http.StatusNotFound},
		{name: "path of file", path: "/prompts" + good, status: http.StatusNotFound},
		{name: "parent", path: "/prompts/../etc/passwd", status: http.StatusNotFound},
		{name: "silence too long", path: "/prompts/silence-2h.wav", status: http.StatusNotFound},
		{name: "silence negative", path: "/prompts/silence--1s.wav", status: http.StatusNotFound},
		{name: "not a wav", path: "/prompts/bad0.wav", status: http.StatusInternalServerError},
		{name: "file gone", path: "/prompts/gone.wav", status: http.StatusInternalServerError},
	}
	srv := New(Config{Prompts: src, Logger: quiet})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path, req.URL.RawPath = "", ""
			req.URL, _ = req.URL.Parse(tt.path)
			srv.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("GET %s = %d, want %d (%s)", tt.path, rec.Code, tt.status, rec.Body)
			}
			if tt.status != http.StatusOK {
				if bytes.HasPrefix(rec.Body.Bytes(), []byte("RIFF")) {
					t.Error("error response carries audio")
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "audio/wav" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q", cc)
			}
			got, err := media.ReadWAV(rec.Body)
			if err != nil {
				t.Fatalf("served WAV: %v", err)
			}
			if len(got) != tt.samples {
				t.Fatalf("served %d samples, want %d", len(got), tt.samples)
			}
			if tt.samples == len(samples) {
				for i := range got {
					if got[i] != samples[i] {
						t.Fatalf("sample %d = %d, want %d", i, got[i], samples[i])
					}
				}
			}
		})
	}
}

func TestGetPromptNoSource(t *testing.T) {
	srv := New(Config{Logger: quiet})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/prompts/abc.wav", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET without a prompt source = %d, want 503", rec.Code)
	}
}

func TestGetPromptConditional(t *testing.T) {
	srv := New(Config{Prompts: promptMap{}, Logger: quiet})
	req := httptest.NewRequest(http.MethodGet, "/prompts/silence-20ms.wav", nil)
	req.Header.Set("If-None-Match", `"silence-20ms"`)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("conditional GET = %d, want 304", rec.Code)
	}
}

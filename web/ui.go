package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// The agent desk and the supervisor view are plain HTML, CSS and
// JavaScript embedded in ivrd: no build step, nothing fetched from
// elsewhere.
//
//go:embed ui
var uiFS embed.FS

// uiFile is an embedded file, ready to serve.
type uiFile struct {
	body        []byte
	contentType string
	etag        string
}

type uiFiles struct {
	files map[string]uiFile
}

// loadUI reads the embedded files once.
func loadUI() *uiFiles {
	u := &uiFiles{files: map[string]uiFile{}}
	sub, err := fs.Sub(uiFS, "ui")
	if err != nil {
		panic(err) // the directory is embedded: it is there
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		u.files[p] = uiFile{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return u
}

// contentSecurity keeps the pages to what they are: code and styles from
// ivrd only, requests to ivrd only, never framed by another site.
const contentSecurity = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob: mediastream:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) serveUI(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := s.ui.files[name]
	if !ok {
		s.writeError(w, r, http.StatusNotFound, "no such file: "+name)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidated each time: after an upgrade the desk gets the new files.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// page serves one of the pages.
func (s *Server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.serveUI(w, r, name) }
}

// asset serves GET /ui/{file}: the pages' scripts and styles.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	s.serveUI(w, r, r.PathValue("file"))
}

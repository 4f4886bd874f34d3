package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// decodeJSON reads exactly one JSON object of at most limit bytes into v.
// On error it returns the status to answer and a message for the client.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) (int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/json", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Anything after the object is a mistake (two objects, or garbage).
		if err = dec.Decode(&struct{}{}); errors.Is(err, io.EOF) {
			return 0, nil
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); !ok {
			return http.StatusBadRequest, errors.New("body must hold a single JSON object")
		}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", limit)
	}
	return http.StatusBadRequest, decodeError(err)
}

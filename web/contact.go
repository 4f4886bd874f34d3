package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
)

// MaxContactBody is the largest body POST /api/contacts accepts.
const MaxContactBody = 64 << 10

// contactRequest is the body of POST /api/contacts.
type contactRequest struct {
	Channel  string            `json:"channel"`
	Queue    string            `json:"queue"`
	Caller   string            `json:"caller"`
	Language string            `json:"language"`
	Intent   string            `json:"intent"`
	Priority int               `json:"priority"`
	Skills   []string          `json:"skills"`
	Vars     map[string]string `json:"vars"`
}

// decodeContact reads and validates the body of POST /api/contacts. On
// error it returns the status to answer and a message for the client.
func decodeContact(w http.ResponseWriter, r *http.Request) (ivr.Contact, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return ivr.Contact{}, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/json", ct)
		}
	}
	body := http.MaxBytesReader(w, r.Body, MaxContactBody)
	req, err := parseContact(body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return ivr.Contact{}, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", MaxContactBody)
		}
		return ivr.Contact{}, http.StatusBadRequest, err
	}
	c := ivr.Contact{
		Channel:  req.Channel,
		Queue:    req.Queue,
		Caller:   req.Caller,
		Language: req.Language,
		Intent:   req.Intent,
		Priority: req.Priority,
		Skills:   req.Skills,
		Vars:     req.Vars,
	}
	switch {
	case c.Queue == "":
		return c, http.StatusBadRequest, errors.New("missing queue")
	case c.Channel == "":
		return c, http.StatusBadRequest, errors.New("missing channel")
	}
	if err := routing.Validate(&c); err != nil {
		return c, http.StatusBadRequest, err
	}
	return c, 0, nil
}

// parseContact decodes exactly one JSON object with known fields, and
// turns the decoder's errors into messages a client can act on.
func parseContact(r io.Reader) (contactRequest, error) {
	var req contactRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, decodeError(err)
	}
	// Anything after the object is a mistake (two objects, or garbage).
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, err
		}
		return req, errors.New("body must hold a single JSON object")
	}
	return req, nil
}

func decodeError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("malformed JSON at byte %d: %s", e.Offset, e.Error())
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return fmt.Errorf("body must be a JSON object, not %s", e.Value)
		}
		return fmt.Errorf("field %q: want %s, not %s", e.Field, e.Type, e.Value)
	}
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty body: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: unexpected end of body")
	}
	// The decoder has no typed error for unknown fields.
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", msg)
	}
	return fmt.Errorf("invalid body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

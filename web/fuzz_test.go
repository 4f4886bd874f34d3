package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/routing"
)

// acceptAll is a queue that takes every contact without storing it.
type acceptAll struct{}

func (acceptAll) List(context.Context, string) ([]routing.WaitingContact, error) { return nil, nil }
func (acceptAll) Summary(context.Context) ([]routing.QueueSummary, error)        { return nil, nil }
func (acceptAll) Post(_ context.Context, c ivr.Contact) (string, error) {
	if err := routing.Validate(&c); err != nil {
		return "", err
	}
	return "id", nil
}

// FuzzPostContact feeds arbitrary bodies to POST /api/contacts: the API must
// never panic, never answer 5xx, and always answer a JSON object.
func FuzzPostContact(f *testing.F) {
	for _, seed := range []string{
		`{"channel":"chat","queue":"sales","caller":"a@b","priority":3,"skills":["en"],"vars":{"k":"v"}}`,
		`{"channel":"email","queue":"x","unknown":1}`,
		`{"queue":"x"}`,
		`{"channel":"voice","queue":"a/b","priority":-1}`,
		`{"channel":"chat","queue":"a","priority":1e99}`,
		`{"channel":"chat","queue":"a","vars":{"":""}}`,
		`{"channel":"chat","queue":"a"}{}`,
		`[]`, `null`, `""`, `{`, `{"channel":"\ud800"}`, "\xff\xfe",
	} {
		f.Add(seed)
	}
	h := New(Config{Queues: acceptAll{}, Logger: quiet}).Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/contacts", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != 201 && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q is not a JSON object: %v", rec.Body, err)
		}
		if rec.Code == 201 && m["id"] != "id" {
			t.Fatalf("201 without id: %s", rec.Body)
		}
		if rec.Code != 201 && m["error"] == "" {
			t.Fatalf("%d without error: %s", rec.Code, rec.Body)
		}
	})
}

package recordings

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHoldAndRelease(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	id := e.record(t, "call-1", t0, 60)
	e.watchSync(t, "UPDATE OF hold_by", "recordings")

	e.clock.Set(t0.Add(time.Hour))
	if err := e.s.Hold(ctx, id, "dpo", "dispute 42"); err != nil {
		t.Fatal(err)
	}
	r, err := e.s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hold == nil || r.Hold.By != "dpo" || r.Hold.Reason != "dispute 42" || !r.Hold.At.Equal(t0.Add(time.Hour)) {
		t.Errorf("hold %+v", r.Hold)
	}
	found, err := e.s.Search(ctx, Filter{CallID: "call-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Hold == nil || found[0].Hold.By != "dpo" {
		t.Errorf("Search does not show the hold: %+v", found)
	}
	b, _ := jsonMarshal(r)
	if want := `"hold":{"by":"dpo","reason":"dispute 42","at":"2026-03-02T11:00:00Z"}`; !strings.Contains(b, want) {
		t.Errorf("JSON %s lacks %s", b, want)
	}

	tests := []struct {
		name          string
		id, who, why  string
		hold, release bool
		want          error
	}{
		{name: "held twice", id: id, who: "other", why: "x", hold: true, want: ErrHeld},
		{name: "hold unknown", id: "nope", who: "dpo", why: "x", hold: true, want: ErrNotFound},
		{name: "hold without who", id: id, why: "x", hold: true, want: ErrInvalid},
		{name: "hold without why", id: id, who: "dpo", hold: true, want: ErrInvalid},
		{name: "release unknown", id: "nope", who: "dpo", release: true, want: ErrNotFound},
		{name: "release without who", id: id, release: true, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.hold {
				err = e.s.Hold(ctx, tt.id, tt.who, tt.why)
			} else {
				err = e.s.Release(ctx, tt.id, tt.who)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("= %v, want %v", err, tt.want)
			}
		})
	}
	if r, _ := e.s.Get(ctx, id); r.Hold == nil || r.Hold.By != "dpo" {
		t.Errorf("the first hold did not stand: %+v", r.Hold)
	}

	if err := e.s.Release(ctx, id, "dpo"); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.s.Get(ctx, id); r.Hold != nil {
		t.Errorf("hold after release: %+v", r.Hold)
	}
	if err := e.s.Release(ctx, id, "dpo"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("second Release = %v, want ErrNotHeld", err)
	}
	e.checkDurable(t, "recordings", 2)
}

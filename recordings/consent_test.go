package recordings

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

func TestSaveConsentIsDurable(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.watchSync(t, "INSERT", "consents")
	c := &ivr.Consent{CallID: "call-1", Caller: "+33600000000", Driver: "asterisk", At: t0,
		Language: "fr", Flow: "accueil", FlowVersion: "3", Node: "consent",
		Prompt: "Dans le cadre de notre politique d'amélioration…", Choice: ivr.ConsentAccepted}
	if err := e.s.SaveConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.ID == "" {
		t.Fatal("SaveConsent left the id empty")
	}
	got, err := e.s.FindConsent(ctx, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || *got != *c {
		t.Errorf("FindConsent = %+v, want %+v", got, c)
	}
	e.checkDurable(t, "consents", 1)
	// The row is there for any other connection once SaveConsent returns.
	if n := e.count(t, `SELECT count(*) FROM consents WHERE id = ? AND choice = 'accepted'`, c.ID); n != 1 {
		t.Errorf("%d consent rows", n)
	}
	// The consent row is never changed afterwards.
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE consents SET choice = 'refused', key = '9' WHERE id = ?`, c.ID)
		return err
	})
	if err == nil {
		t.Error("a consent row was updated")
	}
}

func TestFindConsent(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if c, err := e.s.FindConsent(ctx, "nobody"); c != nil || err != nil {
		t.Fatalf("FindConsent(nobody) = %v, %v; want nil, nil", c, err)
	}
	e.consent(t, "call-a", ivr.ConsentAccepted)
	e.clock.Set(t0.Add(time.Minute))
	refused := e.consent(t, "call-a", ivr.ConsentRefused)
	e.clock.Set(t0.Add(2 * time.Minute))
	e.consent(t, "call-a", ivr.ConsentAccepted)
	// A refusal is absolute: it wins over any acceptance of the same call.
	c, err := e.s.FindConsent(ctx, "call-a")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != refused || c.Choice != ivr.ConsentRefused || c.Key != "9" {
		t.Errorf("FindConsent = %+v, want the refusal %s", c, refused)
	}
	all, err := e.s.Consents(ctx, "call-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[1].ID != refused || !all[0].At.Before(all[2].At) {
		t.Errorf("Consents = %+v", all)
	}
}

func TestSaveConsentRejects(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		c    *ivr.Consent
	}{
		{"nil", nil},
		{"no call", &ivr.Consent{Choice: ivr.ConsentAccepted}},
		{"no choice", &ivr.Consent{CallID: "c"}},
		{"unknown choice", &ivr.Consent{CallID: "c", Choice: "maybe"}},
		{"key with acceptance", &ivr.Consent{CallID: "c", Choice: ivr.ConsentAccepted, Key: "9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.s.SaveConsent(t.Context(), tt.c); !errors.Is(err, ErrInvalid) {
				t.Errorf("SaveConsent = %v, want ErrInvalid", err)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM consents`); n != 0 {
		t.Errorf("%d consent rows stored", n)
	}
}

package recordings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

// SaveConsent stores the caller's answer to the recording notice and sets
// c.ID. It returns once the row is committed with synchronous=FULL, so no
// recorded byte can exist without it. At defaults to now.
func (s *Service) SaveConsent(ctx context.Context, c *ivr.Consent) error {
	if c == nil || c.CallID == "" {
		return fmt.Errorf("save consent: %w: no call id", ErrInvalid)
	}
	switch c.Choice {
	case ivr.ConsentAccepted:
		if c.Key != "" {
			return fmt.Errorf("save consent for call %s: %w: key %q with an acceptance", c.CallID, ErrInvalid, c.Key)
		}
	case ivr.ConsentRefused:
	default:
		return fmt.Errorf("save consent for call %s: %w: choice %q", c.CallID, ErrInvalid, c.Choice)
	}
	at := c.At
	if at.IsZero() {
		at = s.now()
	}
	id := newID()
	err := s.db.WriteDurable(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO consents (id, call_id, caller, driver, at, language, flow,
				flow_version, node, prompt, choice, key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, c.CallID, c.Caller, c.Driver, store.FormatTime(at), c.Language, c.Flow,
			c.FlowVersion, c.Node, c.Prompt, string(c.Choice), c.Key)
		return err
	})
	if err != nil {
		return fmt.Errorf("save consent for call %s: %w", c.CallID, err)
	}
	c.ID, c.At = id, at
	s.log.InfoContext(ctx, "recording consent", "call_id", c.CallID, "consent_id", id,
		"choice", string(c.Choice), "flow", c.Flow, "node", c.Node)
	return nil
}

const consentColumns = `id, call_id, caller, driver, at, language, flow, flow_version,
	node, prompt, choice, key`

// FindConsent returns the consent given for a call, or nil, nil. Should a
// call have several answers, a refusal wins over any acceptance: a refusal
// is absolute.
func (s *Service) FindConsent(ctx context.Context, callID string) (*ivr.Consent, error) {
	row := s.db.Reader().QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE call_id = ? ORDER BY choice = 'refused' DESC, at DESC, rowid DESC LIMIT 1`, callID)
	c, err := scanConsent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find consent for call %s: %w", callID, err)
	}
	return c, nil
}

// Consents returns every answer recorded for a call, oldest first.
func (s *Service) Consents(ctx context.Context, callID string) ([]ivr.Consent, error) {
	if callID == "" {
		return nil, fmt.Errorf("list consents: %w: no call id", ErrInvalid)
	}
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE call_id = ? ORDER BY at, rowid`, callID)
	if err != nil {
		return nil, fmt.Errorf("list consents for call %s: %w", callID, err)
	}
	defer rows.Close()
	out := []ivr.Consent{}
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("list consents for call %s: %w", callID, err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list consents for call %s: %w", callID, err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanConsent(sc scanner) (*ivr.Consent, error) {
	var (
		c          ivr.Consent
		at, choice string
	)
	if err := sc.Scan(&c.ID, &c.CallID, &c.Caller, &c.Driver, &at, &c.Language, &c.Flow,
		&c.FlowVersion, &c.Node, &c.Prompt, &choice, &c.Key); err != nil {
		return nil, err
	}
	c.Choice = ivr.ConsentChoice(choice)
	var err error
	if c.At, err = store.ParseTime(at); err != nil {
		return nil, err
	}
	return &c, nil
}

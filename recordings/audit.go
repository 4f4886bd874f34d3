package recordings

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ivrd/ivrd/store"
)

// Outcome is how an access to recordings ended.
type Outcome string

// Access outcomes.
const (
	OutcomeOK              Outcome = "ok"
	OutcomeDenied          Outcome = "denied"          // authenticated, not allowed
	OutcomeUnauthenticated Outcome = "unauthenticated" // no or unknown credentials
	OutcomeNotFound        Outcome = "not_found"
	// OutcomeError: the request was malformed, conflicted with the
	// recording's state (no audio yet), or failed on the server.
	OutcomeError Outcome = "error"
)

func (o Outcome) valid() bool {
	switch o {
	case OutcomeOK, OutcomeDenied, OutcomeUnauthenticated, OutcomeNotFound, OutcomeError:
		return true
	}
	return false
}

// AuditEntry is one access to recordings: who, what, when, from where, and
// how it ended.
type AuditEntry struct {
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	User        string    `json:"user"` // "" when unauthenticated
	Role        string    `json:"role"`
	Action      string    `json:"action"` // what was done, in the API's words: "search", "download"...
	RecordingID string    `json:"recording_id,omitempty"`
	CallID      string    `json:"call_id,omitempty"`
	Remote      string    `json:"remote"` // the client's address
	Outcome     Outcome   `json:"outcome"`
	Detail      string    `json:"detail,omitempty"`
}

// AuditFilter selects audit rows for AuditLog. Zero fields do not filter.
type AuditFilter struct {
	User        string
	RecordingID string
	CallID      string
	Action      string
	Outcome     Outcome
	From        time.Time // at or after
	To          time.Time // before
	Limit       int       // DefaultLimit when 0, MaxLimit at most
	Offset      int
}

// Audit appends e to the access audit, committed with synchronous=FULL.
// At defaults to now; Action and a known Outcome are required.
func (s *Service) Audit(ctx context.Context, e AuditEntry) error {
	if e.Action == "" {
		return fmt.Errorf("audit access: %w: no action", ErrInvalid)
	}
	if !e.Outcome.valid() {
		return fmt.Errorf("audit access: %w: outcome %q", ErrInvalid, e.Outcome)
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.db.WriteDurable(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO access_audit (at, user, role, action,
				recording_id, call_id, remote, outcome, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			store.FormatTime(e.At), e.User, e.Role, e.Action, e.RecordingID, e.CallID,
			e.Remote, string(e.Outcome), e.Detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit access: %w", err)
	}
	return nil
}

// AuditLog returns the audit rows matching f, newest first.
func (s *Service) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, v string }{
		{"user", f.User}, {"recording_id", f.RecordingID}, {"call_id", f.CallID},
		{"action", f.Action}, {"outcome", string(f.Outcome)},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, store.FormatTime(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, store.FormatTime(f.To))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := `SELECT id, at, user, role, action, recording_id, call_id, remote, outcome, detail FROM access_audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))

	rows, err := s.db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read access audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var (
			e           AuditEntry
			at, outcome string
		)
		if err := rows.Scan(&e.ID, &at, &e.User, &e.Role, &e.Action, &e.RecordingID,
			&e.CallID, &e.Remote, &outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("read access audit: %w", err)
		}
		e.Outcome = Outcome(outcome)
		if e.At, err = store.ParseTime(at); err != nil {
			return nil, fmt.Errorf("read access audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read access audit: %w", err)
	}
	return out, nil
}

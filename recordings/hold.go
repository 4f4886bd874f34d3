package recordings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ivrd/ivrd/store"
)

// Hold places a legal hold on a recording: the purge keeps it past its
// expiry until the hold is released. who and why are required and shown
// with the recording. A recording already held is ErrHeld: the first hold
// stands until released. The row is committed with synchronous=FULL.
func (s *Service) Hold(ctx context.Context, id, who, why string) error {
	if who == "" || why == "" {
		return fmt.Errorf("hold recording %s: %w: a hold needs who and why", id, ErrInvalid)
	}
	at := s.now()
	err := s.db.WriteDurable(ctx, func(tx *sql.Tx) error {
		var held sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT hold_by FROM recordings WHERE id = ?`, id).Scan(&held)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if held.Valid {
			return fmt.Errorf("%w by %s", ErrHeld, held.String)
		}
		_, err = tx.ExecContext(ctx, `UPDATE recordings SET hold_by = ?, hold_reason = ?, hold_at = ? WHERE id = ?`,
			who, why, store.FormatTime(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("hold recording %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "recording held", "recording_id", id, "by", who, "reason", why)
	return nil
}

// Release lifts the legal hold of a recording; once expired, the next
// purge deletes it. A recording without a hold is ErrNotHeld. who is
// logged; the caller audits the action.
func (s *Service) Release(ctx context.Context, id, who string) error {
	if who == "" {
		return fmt.Errorf("release recording %s: %w: no user", id, ErrInvalid)
	}
	var by, why string
	err := s.db.WriteDurable(ctx, func(tx *sql.Tx) error {
		var held, reason sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT hold_by, hold_reason FROM recordings WHERE id = ?`, id).Scan(&held, &reason)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !held.Valid {
			return ErrNotHeld
		}
		by, why = held.String, reason.String
		_, err = tx.ExecContext(ctx, `UPDATE recordings SET hold_by = NULL, hold_reason = NULL, hold_at = NULL WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("release recording %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "recording hold released", "recording_id", id, "by", who,
		"held_by", by, "hold_reason", why)
	return nil
}

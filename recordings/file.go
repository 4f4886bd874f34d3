package recordings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

// finishTimeout bounds the store writes of Close and Abort, which run even
// when the caller's context is done: the call hung up, which is often why
// the recording ends.
const finishTimeout = 10 * time.Second

// Create opens a new recording of a call. It refuses (ErrNoConsent) unless
// meta.ConsentID names an accepted consent of meta.CallID and the caller
// refused nothing in that call. The row, in state recording, is committed
// before the file is created, so no audio exists without its row.
func (s *Service) Create(ctx context.Context, m ivr.RecordingMeta) (ivr.RecordingFile, error) {
	f, err := s.create(ctx, m)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Service) create(ctx context.Context, m ivr.RecordingMeta) (*file, error) {
	if m.CallID == "" {
		return nil, fmt.Errorf("create recording: %w: no call id", ErrInvalid)
	}
	if m.ConsentID == "" {
		return nil, fmt.Errorf("create recording for call %s: %w", m.CallID, ErrNoConsent)
	}
	started := m.StartedAt
	if started.IsZero() {
		started = s.now()
	}
	started = started.UTC()
	id := newID()
	rel := started.Format("2006/01/02") + "/" + id + s.ext()
	path, err := s.abs(rel)
	if err != nil {
		return nil, fmt.Errorf("create recording for call %s: %w", m.CallID, err)
	}
	// Durable: after a power loss, a file must never outlive its row.
	err = s.db.WriteDurable(ctx, func(tx *sql.Tx) error {
		// The check and the insert share the transaction: a refusal
		// committed before it is seen.
		var accepted, refused bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM consents WHERE id = ? AND call_id = ? AND choice = 'accepted'),
			EXISTS (SELECT 1 FROM consents WHERE call_id = ? AND choice = 'refused')`,
			m.ConsentID, m.CallID, m.CallID).Scan(&accepted, &refused); err != nil {
			return err
		}
		if refused {
			return fmt.Errorf("%w: the caller refused", ErrNoConsent)
		}
		if !accepted {
			return fmt.Errorf("%w: consent %s is not an acceptance of this call", ErrNoConsent, m.ConsentID)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO recordings (id, call_id, caller, dialled, driver, flow, flow_version,
				node, queue, consent_id, started_at, rel_path, encrypted, state, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'recording', ?)`,
			id, m.CallID, m.Caller, m.Dialled, m.Driver, m.Flow, m.FlowVersion, m.Node,
			m.Queue, m.ConsentID, store.FormatTime(started), rel, s.key != nil,
			store.FormatTime(started.Add(s.retention)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create recording for call %s: %w", m.CallID, err)
	}
	// Registered before the file exists, so a concurrent Recover leaves
	// its .part alone.
	s.setActive(id, rel)
	w, err := audiofile.Create(path, s.key)
	if err != nil {
		s.clearActive(id)
		if derr := s.deleteRow(ctx, id); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, fmt.Errorf("create recording for call %s: %w", m.CallID, err)
	}
	s.log.InfoContext(ctx, "recording started", "call_id", m.CallID, "recording_id", id,
		"node", m.Node, "queue", m.Queue, "encrypted", s.key != nil)
	return &file{s: s, id: id, callID: m.CallID, started: started, w: w}, nil
}

func (s *Service) deleteRow(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM recordings WHERE id = ? AND state = 'recording'`, id)
		return err
	})
}

// file is a recording being written: an ivr.RecordingFile.
//
// WriteFrames runs on the media path, every 20 ms, while Close and Abort
// come from the call's goroutine. The closed flag, set under mu, makes a
// WriteFrames that loses the race return at once instead of waiting for
// the file's final sync.
type file struct {
	s      *Service
	id     string
	callID string
	// started is when the audio begins: drivers keep wall-clock time
	// (silence where nothing was heard), so a pause's offset into the audio
	// is its time since started, whatever the driver has delivered yet.
	started time.Time
	w       *audiofile.Writer

	mu     sync.Mutex // serialises WriteFrames with the closing of the file
	closed bool
	failed atomic.Bool // a write failed; logged once

	notes  sync.Mutex // serialises pause notes and their store writes
	pauses []Pause
}

var _ ivr.RecordingFile = (*file)(nil)

func (f *file) ID() string { return f.id }

// WriteFrames appends audio: the caller on the left, ivrd or the agent on
// the right. The writer buffers about two seconds; a disk write happens
// once per buffer.
func (f *file) WriteFrames(caller, other []int16) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return fmt.Errorf("write recording %s: %w", f.id, ErrClosed)
	}
	err := f.w.WriteFrames(caller, other)
	f.mu.Unlock()
	if err != nil && f.failed.CompareAndSwap(false, true) {
		f.s.log.Error("recording write failed", "call_id", f.callID, "recording_id", f.id, "err", err)
	}
	return err
}

// Pause notes the start of a pause at at, with its offset into the audio.
// A pause already open is kept as it is.
func (f *file) Pause(at time.Time, reason string) {
	if f.isClosed() {
		return
	}
	offset := max(at.Sub(f.started), 0)
	f.notes.Lock()
	defer f.notes.Unlock()
	if n := len(f.pauses); n > 0 && f.pauses[n-1].ResumedAt == nil {
		return
	}
	f.pauses = append(f.pauses, Pause{At: at.UTC(), OffsetSeconds: offset.Seconds(), Reason: reason})
	f.s.log.Info("recording paused", "call_id", f.callID, "recording_id", f.id,
		"reason", reason, "offset", offset)
	f.saveNotes()
}

// Resume notes the end of the open pause.
func (f *file) Resume(at time.Time) {
	if f.isClosed() {
		return
	}
	f.notes.Lock()
	defer f.notes.Unlock()
	n := len(f.pauses)
	if n == 0 || f.pauses[n-1].ResumedAt != nil {
		return
	}
	at = at.UTC()
	f.pauses[n-1].ResumedAt = &at
	f.s.log.Info("recording resumed", "call_id", f.callID, "recording_id", f.id,
		"paused_for", at.Sub(f.pauses[n-1].At))
	f.saveNotes()
}

// saveNotes stores the pauses now, so that a recording recovered after a
// crash keeps them. Called with notes held.
func (f *file) saveNotes() {
	js, err := encodePauses(f.pauses)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		defer cancel()
		err = f.s.db.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE recordings SET pauses = ? WHERE id = ? AND state = 'recording'`, js, f.id)
			return err
		})
	}
	if err != nil {
		// The notes are stored again by Close.
		f.s.log.Warn("store recording pauses", "call_id", f.callID, "recording_id", f.id, "err", err)
	}
}

func (f *file) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// close marks the file closed; false if it already was.
func (f *file) close() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.closed = true
	return true
}

// Close completes the file (final name, synced) and stores its duration,
// size and sha256. A file that cannot be completed (a full disk) is
// removed and its row flagged damaged.
func (f *file) Close(ctx context.Context) error {
	if !f.close() {
		return fmt.Errorf("close recording %s: %w", f.id, ErrClosed)
	}
	defer f.s.clearActive(f.id)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()

	ended := f.s.now().UTC()
	f.notes.Lock()
	if n := len(f.pauses); n > 0 && f.pauses[n-1].ResumedAt == nil {
		f.pauses[n-1].ResumedAt = &ended
	}
	pauses, perr := encodePauses(f.pauses)
	f.notes.Unlock()
	if perr != nil {
		pauses = "[]"
	}

	inf, err := f.w.Close()
	if err != nil {
		_ = f.w.Abort()
		f.s.log.Error("recording not completed", "call_id", f.callID, "recording_id", f.id, "err", err)
		return fmt.Errorf("close recording %s: %w", f.id, errors.Join(err, f.s.markDamaged(ctx, f.id)))
	}
	err = f.s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recordings SET state = 'complete', ended_at = ?,
				duration_ms = ?, size = ?, sha256 = ?, encrypted = ?, pauses = ?
			WHERE id = ? AND state = 'recording'`,
			store.FormatTime(ended), inf.Duration.Milliseconds(), inf.Size, inf.SHA256,
			inf.Encrypted, pauses, f.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("row %w or no longer recording", store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		// The file is complete under its final name; the next Recover
		// stores its checksum.
		return fmt.Errorf("close recording %s: %w", f.id, err)
	}
	f.s.log.InfoContext(ctx, "recording complete", "call_id", f.callID, "recording_id", f.id,
		"duration", inf.Duration, "size", inf.Size, "pauses", len(f.pauses))
	return nil
}

// Abort deletes the file, then the row. Interrupted in between, it leaves a
// row without a file, which Recover flags as damaged, never a file without
// a row.
func (f *file) Abort(ctx context.Context) error {
	if !f.close() {
		return fmt.Errorf("abort recording %s: %w", f.id, ErrClosed)
	}
	defer f.s.clearActive(f.id)
	if err := f.w.Abort(); err != nil {
		return fmt.Errorf("abort recording %s: %w", f.id, err)
	}
	if err := f.s.deleteRow(ctx, f.id); err != nil {
		return fmt.Errorf("abort recording %s: %w", f.id, err)
	}
	f.s.log.InfoContext(ctx, "recording aborted", "call_id", f.callID, "recording_id", f.id)
	return nil
}

// markDamaged flags a recording whose file could not be completed.
func (s *Service) markDamaged(ctx context.Context, id string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE recordings SET state = 'damaged', ended_at = ?
			WHERE id = ? AND state = 'recording'`, store.FormatTime(s.now()), id)
		return err
	})
}

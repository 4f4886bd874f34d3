package recordings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ivrd/ivrd/store"
)

// ReasonExpired is the purge-log reason of a recording deleted because its
// retention ended.
const ReasonExpired = "expired"

// PurgeItem is a recording the purge deleted, or would delete.
type PurgeItem struct {
	ID        string    `json:"id"`
	CallID    string    `json:"call_id"`
	StartedAt time.Time `json:"started_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      int64     `json:"size"`
}

// PurgeReport says what a purge deleted, or with DryRun what it would.
type PurgeReport struct {
	DryRun bool        `json:"dry_run"`
	Items  []PurgeItem `json:"items"`
	Bytes  int64       `json:"bytes"`
	// Quarantine lists the files of the quarantine folder that belong to
	// no recording and are older than the retention (deleted unless
	// DryRun), relative to the recordings folder.
	Quarantine []string `json:"quarantine,omitempty"`
}

// PurgeEntry is a row of the purge log.
type PurgeEntry struct {
	ID          int64     `json:"id"`
	RecordingID string    `json:"recording_id"`
	CallID      string    `json:"call_id"`
	SHA256      string    `json:"sha256"`
	PurgedAt    time.Time `json:"purged_at"`
	Reason      string    `json:"reason"`
	ExpiredAt   time.Time `json:"expired_at"`
}

// purgeRow is an expired recording as the purge reads it.
type purgeRow struct {
	PurgeItem
	sha256, rel, expires string
}

// Purge deletes the recordings whose retention has ended (expires_at at or
// before now) and that no legal hold keeps, with dryRun only listing them.
//
// It goes in batches. A batch is one transaction, committed with
// synchronous=FULL, that holds the store's write lock from the reading of
// the batch to the commit, so a legal hold cannot slip in between: it
// deletes the files first (a missing one is fine: a purge interrupted
// earlier), then writes a purge-log row per recording and deletes the
// rows. Interrupted anywhere, it leaves rows whose files may be gone and
// which the next purge finishes; never a file without its row, never a
// recording logged twice. A recording still marked as being written once it
// expired (180 days on: its process died, or its completion could not be
// stored) goes too, with its temporary file.
func (s *Service) Purge(ctx context.Context, dryRun bool) (PurgeReport, error) {
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	now := s.now()
	rep := PurgeReport{DryRun: dryRun, Items: []PurgeItem{}}
	var err error
	if dryRun {
		err = s.listExpired(ctx, now, &rep)
	} else {
		err = s.purgeExpired(ctx, now, &rep)
	}
	if err == nil {
		err = s.sweepQuarantine(ctx, now, &rep)
	}
	if err != nil {
		return rep, fmt.Errorf("purge recordings: %w", err)
	}
	return rep, nil
}

const expiredQuery = `SELECT id, call_id, started_at, expires_at, size, sha256, rel_path
	FROM recordings
	WHERE expires_at <= ? AND hold_by IS NULL
		AND (expires_at, id) > (?, ?)
	ORDER BY expires_at, id LIMIT ?`

// listExpired fills rep with what a purge would delete, changing nothing.
func (s *Service) listExpired(ctx context.Context, now time.Time, rep *PurgeReport) error {
	lastExp, lastID := "", ""
	for {
		batch, err := readExpired(ctx, s.db.Reader(), now, lastExp, lastID, s.purgeBatch)
		if err != nil {
			return err
		}
		writing, _ := s.activeSet()
		for _, r := range batch {
			if writing[r.ID] {
				continue
			}
			rep.Items = append(rep.Items, r.PurgeItem)
			rep.Bytes += r.Size
		}
		if len(batch) < s.purgeBatch {
			return nil
		}
		lastExp, lastID = batch[len(batch)-1].expires, batch[len(batch)-1].ID
	}
}

func (s *Service) purgeExpired(ctx context.Context, now time.Time, rep *PurgeReport) error {
	// The cursor steps over recordings whose file could not be deleted:
	// they stay, reported, for the next purge.
	lastExp, lastID := "", ""
	var fileErrs []error
	start := time.Now()
	for batchNo := 1; ; batchNo++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			n    int
			done []purgeRow
		)
		err := s.db.WriteDurable(ctx, func(tx *sql.Tx) error {
			batch, err := readExpired(ctx, tx, now, lastExp, lastID, s.purgeBatch)
			if err != nil {
				return err
			}
			n = len(batch)
			if n == 0 {
				return nil
			}
			lastExp, lastID = batch[n-1].expires, batch[n-1].ID
			if err := s.hook(stepBatch, batchNo); err != nil {
				return err
			}
			done = done[:0]
			dirs := map[string]bool{}
			writing, _ := s.activeSet()
			for _, r := range batch {
				if writing[r.ID] {
					continue // this process still writes it
				}
				p, err := s.abs(r.rel)
				if err == nil {
					err = removeFile(p)
				}
				if err == nil {
					// A recording still open past its expiry (its process
					// died, or its completion could not be stored) may
					// have only its temporary file.
					err = removeFile(p + audiofile.PartSuffix)
				}
				if err != nil {
					fileErrs = append(fileErrs, fmt.Errorf("delete recording %s: %w", r.ID, err))
					continue
				}
				dirs[filepath.Dir(p)] = true
				done = append(done, r)
				if err := s.hook(stepFile, len(done)); err != nil {
					return err
				}
			}
			// The removals reach the disk before the rows go, so a power
			// loss cannot bring back a file whose row is deleted.
			for d := range dirs {
				if err := syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			if err := s.hook(stepCommit, batchNo); err != nil {
				return err
			}
			return logAndDelete(ctx, tx, done, now)
		})
		if err != nil {
			return err
		}
		for _, r := range done {
			rep.Items = append(rep.Items, r.PurgeItem)
			rep.Bytes += r.Size
		}
		if n < s.purgeBatch {
			return errors.Join(fileErrs...)
		}
		if err := s.pace(ctx, start, len(rep.Items)); err != nil {
			return err
		}
	}
}

// pace sleeps so that a purge that started at start and has deleted n
// recordings goes no faster than purgeRate.
func (s *Service) pace(ctx context.Context, start time.Time, n int) error {
	if s.purgeRate <= 0 {
		return nil
	}
	wait := time.Until(start.Add(time.Duration(n) * time.Second / time.Duration(s.purgeRate)))
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Service) hook(step purgeStep, n int) error {
	if s.purgeHook == nil {
		return nil
	}
	return s.purgeHook(step, n)
}

func readExpired(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, now time.Time, lastExp, lastID string, limit int) ([]purgeRow, error) {
	rows, err := q.QueryContext(ctx, expiredQuery, store.FormatTime(now), lastExp, lastID, limit)
	if err != nil {
		return nil, fmt.Errorf("read expired recordings: %w", err)
	}
	defer rows.Close()
	var out []purgeRow
	for rows.Next() {
		var (
			r       purgeRow
			started string
		)
		if err := rows.Scan(&r.ID, &r.CallID, &started, &r.expires, &r.Size, &r.sha256, &r.rel); err != nil {
			return nil, fmt.Errorf("read expired recordings: %w", err)
		}
		if r.StartedAt, err = store.ParseTime(started); err != nil {
			return nil, fmt.Errorf("read expired recordings: %w", err)
		}
		if r.ExpiresAt, err = store.ParseTime(r.expires); err != nil {
			return nil, fmt.Errorf("read expired recordings: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read expired recordings: %w", err)
	}
	return out, nil
}

func logAndDelete(ctx context.Context, tx *sql.Tx, rs []purgeRow, now time.Time) error {
	if len(rs) == 0 {
		return nil
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO purge_log (recording_id, call_id, sha256,
		purged_at, reason, expired_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (recording_id) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("log purge: %w", err)
	}
	defer ins.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM recordings WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("delete recordings: %w", err)
	}
	defer del.Close()
	at := store.FormatTime(now)
	for _, r := range rs {
		if _, err := ins.ExecContext(ctx, r.ID, r.CallID, r.sha256, at, ReasonExpired, r.expires); err != nil {
			return fmt.Errorf("log purge of recording %s: %w", r.ID, err)
		}
		if _, err := del.ExecContext(ctx, r.ID); err != nil {
			return fmt.Errorf("delete recording %s: %w", r.ID, err)
		}
	}
	return nil
}

// sweepQuarantine deletes the quarantined files that belong to no
// recording once they are older than the retention: a leftover is a
// recording too, and is not kept longer.
func (s *Service) sweepQuarantine(ctx context.Context, now time.Time, rep *PurgeReport) error {
	qdir := filepath.Join(s.dir, QuarantineDir)
	entries, err := os.ReadDir(qdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read quarantine: %w", err)
	}
	cutoff := now.Add(-s.retention)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		inf, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("read quarantine: %w", err)
		}
		if inf.ModTime().After(cutoff) {
			continue
		}
		rel := QuarantineDir + "/" + e.Name()
		var owned bool
		if err := s.db.Reader().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM recordings WHERE rel_path = ?)`, rel).Scan(&owned); err != nil {
			return fmt.Errorf("read quarantine: %w", err)
		}
		if owned {
			continue // deleted with its row when the row expires
		}
		rep.Quarantine = append(rep.Quarantine, rel)
		if rep.DryRun {
			continue
		}
		if err := removeFile(filepath.Join(qdir, e.Name())); err != nil {
			return fmt.Errorf("delete quarantined %s: %w", rel, err)
		}
		s.log.WarnContext(ctx, "quarantined recording leftover deleted", "file", rel, "modified", inf.ModTime())
	}
	return nil
}

// RunPurger purges now, then whenever the next recording expires and at
// least every interval, until ctx is done. Each run is logged with its
// counts.
func (s *Service) RunPurger(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		start := time.Now()
		rep, err := s.Purge(ctx, false)
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "recordings purge", "purged", len(rep.Items), "err", err)
		} else if len(rep.Items) > 0 || len(rep.Quarantine) > 0 {
			s.log.InfoContext(ctx, "recordings purged", "purged", len(rep.Items), "bytes", rep.Bytes,
				"quarantine", len(rep.Quarantine), "took", time.Since(start))
		} else {
			s.log.DebugContext(ctx, "recordings purge: nothing expired")
		}
		t.Reset(s.nextPurge(ctx, interval, len(rep.Items) > 0))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// minPurgeWait spaces purges when recordings expire one after the other,
// or while a purge could not keep up with them.
const minPurgeWait = time.Second

// nextPurge is how long to wait for the next purge: until the next
// recording expires, so that none is kept past its expires_at longer than
// the purge takes, and at most interval. When the purge that just ran made
// progress and expired recordings are left (they expired while it ran), the
// next one starts at once; recordings a purge could not delete are retried
// after interval.
func (s *Service) nextPurge(ctx context.Context, interval time.Duration, progressed bool) time.Duration {
	now := store.FormatTime(s.now())
	if progressed {
		var left bool
		err := s.db.Reader().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM recordings
			WHERE hold_by IS NULL AND expires_at <= ?)`, now).Scan(&left)
		if err == nil && left {
			return minPurgeWait
		}
	}
	var next sql.NullString
	err := s.db.Reader().QueryRowContext(ctx,
		`SELECT MIN(expires_at) FROM recordings WHERE hold_by IS NULL AND expires_at > ?`,
		now).Scan(&next)
	if err != nil || !next.Valid {
		return interval
	}
	at, err := store.ParseTime(next.String)
	if err != nil {
		return interval
	}
	return min(max(at.Sub(s.now()), minPurgeWait), interval)
}

// PurgeLog returns the last purge-log rows, newest first.
func (s *Service) PurgeLog(ctx context.Context, limit int) ([]PurgeEntry, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, recording_id, call_id, sha256,
		purged_at, reason, expired_at FROM purge_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read purge log: %w", err)
	}
	defer rows.Close()
	out := []PurgeEntry{}
	for rows.Next() {
		var (
			e                 PurgeEntry
			purged, expiredAt string
		)
		if err := rows.Scan(&e.ID, &e.RecordingID, &e.CallID, &e.SHA256, &purged, &e.Reason, &expiredAt); err != nil {
			return nil, fmt.Errorf("read purge log: %w", err)
		}
		if e.PurgedAt, err = store.ParseTime(purged); err != nil {
			return nil, fmt.Errorf("read purge log: %w", err)
		}
		if e.ExpiredAt, err = store.ParseTime(expiredAt); err != nil {
			return nil, fmt.Errorf("read purge log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read purge log: %w", err)
	}
	return out, nil
}

package recordings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

// RecoveryAction is what Recover did with a leftover.
type RecoveryAction string

// Recovery actions.
const (
	// RecoveryCompleted: the recording's leftover was completed (or its
	// complete file found) and the row is now recovered, with its size,
	// duration and sha256.
	RecoveryCompleted RecoveryAction = "recovered"
	// RecoveryDamaged: nothing usable was left; the row is now damaged and
	// the leftover, if any, was moved to the quarantine folder.
	RecoveryDamaged RecoveryAction = "damaged"
	// RecoveryQuarantined: a leftover with no open recording row was moved
	// to the quarantine folder.
	RecoveryQuarantined RecoveryAction = "quarantined"
	// RecoveryPending: an encrypted leftover was left as it is because no
	// key is configured; the next start-up with the key completes it.
	RecoveryPending RecoveryAction = "pending"
)

// RecoveryReport lists what Recover found and did.
type RecoveryReport struct {
	Items []RecoveryItem `json:"items"`
}

// RecoveryItem is one leftover of a crash.
type RecoveryItem struct {
	RecordingID string         `json:"recording_id,omitempty"` // "" for a file with no row
	CallID      string         `json:"call_id,omitempty"`
	File        string         `json:"file,omitempty"` // where it was, relative to the recordings folder
	Action      RecoveryAction `json:"action"`
	Quarantine  string         `json:"quarantine,omitempty"` // where it went, relative to the recordings folder
	Detail      string         `json:"detail,omitempty"`
}

// Count returns how many items had the action.
func (r RecoveryReport) Count(a RecoveryAction) int {
	n := 0
	for _, it := range r.Items {
		if it.Action == a {
			n++
		}
	}
	return n
}

// wavHeaderSize is the header of a recording's WAV (audiofile writes the
// canonical 44-byte header).
const wavHeaderSize = 44

// openRow is a recording row left in state recording.
type openRow struct {
	id, callID, rel string
	started         time.Time
}

// Recover settles what a crash left, at start-up before calls are taken:
//
//   - a .part file whose row is still recording is completed
//     (audiofile.Repair) and the row becomes recovered; if it cannot be
//     completed the row becomes damaged and the file goes to quarantine;
//   - a .part file with no such row goes to quarantine;
//   - a row still recording whose file is complete (the crash came between
//     the rename and the row's update) becomes recovered;
//   - a row still recording with no file becomes damaged.
//
// Nothing is silently kept: each item is logged at Warn and listed in the
// report. Recordings this Service is writing are left alone. Running it
// again finds nothing more to do.
func (s *Service) Recover(ctx context.Context) (RecoveryReport, error) {
	rep := RecoveryReport{Items: []RecoveryItem{}}
	activeIDs, activeRels := s.activeSet()

	rows, err := s.openRows(ctx)
	if err != nil {
		return rep, fmt.Errorf("recover recordings: %w", err)
	}
	byRel := make(map[string]openRow, len(rows))
	for _, r := range rows {
		if !activeIDs[r.id] {
			byRel[r.rel] = r
		}
	}

	parts, err := s.leftovers(ctx)
	if err != nil {
		return rep, fmt.Errorf("recover recordings: %w", err)
	}
	var errs []error
	add := func(it RecoveryItem, err error) {
		if err != nil {
			errs = append(errs, err)
			if it.Detail == "" {
				it.Detail = err.Error()
			}
		}
		rep.Items = append(rep.Items, it)
		s.log.WarnContext(ctx, "recording leftover after a crash", "recording_id", it.RecordingID,
			"call_id", it.CallID, "file", it.File, "action", string(it.Action),
			"quarantine", it.Quarantine, "detail", it.Detail)
	}
	for _, rel := range parts {
		final := strings.TrimSuffix(rel, audiofile.PartSuffix)
		if activeRels[final] {
			continue
		}
		if r, ok := byRel[final]; ok {
			delete(byRel, final)
			add(s.repairPart(ctx, r, rel))
			continue
		}
		it := RecoveryItem{File: rel, Action: RecoveryQuarantined, Detail: "no open recording for this file"}
		q, err := s.quarantine(rel)
		it.Quarantine = q
		add(it, err)
	}
	// Rows left recording whose .part was not found.
	for _, r := range rows {
		if _, ok := byRel[r.rel]; ok {
			add(s.settleRow(ctx, r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("recover recordings: %w", err)
	}
	return rep, nil
}

func (s *Service) openRows(ctx context.Context) ([]openRow, error) {
	rs, err := s.db.Reader().QueryContext(ctx, `SELECT id, call_id, rel_path, started_at
		FROM recordings WHERE state = 'recording' ORDER BY started_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list open recordings: %w", err)
	}
	defer rs.Close()
	var out []openRow
	for rs.Next() {
		var (
			r       openRow
			started string
		)
		if err := rs.Scan(&r.id, &r.callID, &r.rel, &started); err != nil {
			return nil, fmt.Errorf("list open recordings: %w", err)
		}
		if r.started, err = store.ParseTime(started); err != nil {
			return nil, fmt.Errorf("list open recordings: %w", err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list open recordings: %w", err)
	}
	return out, nil
}

// leftovers returns the rel paths of the .part files in the date folders
// (YYYY/MM/DD). Nothing else is looked at, so a recordings folder shared
// by mistake with other files never has them quarantined.
func (s *Service) leftovers(ctx context.Context) ([]string, error) {
	var out []string
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == s.dir {
			return nil
		}
		rel, err := s.rel(p)
		if err != nil {
			return err
		}
		depth := strings.Count(rel, "/") + 1
		if d.IsDir() {
			if depth > 3 || !digits(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if depth == 4 && strings.HasSuffix(d.Name(), audiofile.PartSuffix) {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find leftovers: %w", err)
	}
	return out, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// repairPart completes the leftover of an open row.
func (s *Service) repairPart(ctx context.Context, r openRow, partRel string) (RecoveryItem, error) {
	it := RecoveryItem{RecordingID: r.id, CallID: r.callID, File: partRel}
	partPath, err := s.abs(partRel)
	if err != nil {
		it.Action = RecoveryPending
		return it, err
	}
	inf, rerr := audiofile.Repair(partPath, s.key)
	switch {
	case rerr == nil:
		it.Action = RecoveryCompleted
		it.Detail = fmt.Sprintf("completed: %v of audio", inf.Duration)
		return it, s.markRecovered(ctx, r, inf.Duration, inf.Size, inf.SHA256, inf.Encrypted)
	case errors.Is(rerr, audiofile.ErrNoKey):
		it.Action = RecoveryPending
		it.Detail = "encrypted and no recordings key is configured"
		return it, nil
	case errors.Is(rerr, fs.ErrExist):
		// Both the leftover and a complete file: keep the complete one.
		q, err := s.quarantine(partRel)
		if err != nil {
			it.Action = RecoveryPending
			return it, err
		}
		it2, err := s.settleRow(ctx, r)
		it2.File, it2.Quarantine = partRel, q
		it2.Detail = "a complete file exists; leftover quarantined; " + it2.Detail
		return it2, err
	}
	it.Action = RecoveryDamaged
	it.Detail = rerr.Error()
	it.Quarantine, err = s.damage(ctx, r, partRel)
	return it, err
}

// settleRow settles an open row whose .part is gone: its complete file is
// kept if it is there, else the row is damaged.
func (s *Service) settleRow(ctx context.Context, r openRow) (RecoveryItem, error) {
	it := RecoveryItem{RecordingID: r.id, CallID: r.callID, File: r.rel}
	p, err := s.abs(r.rel)
	if err != nil {
		it.Action = RecoveryPending
		return it, err
	}
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		it.Action = RecoveryDamaged
		it.Detail = "no file"
		it.File = ""
		_, err := s.damage(ctx, r, "")
		return it, err
	}
	rd, err := audiofile.Open(p, s.key)
	if errors.Is(err, audiofile.ErrNoKey) {
		it.Action = RecoveryPending
		it.Detail = "encrypted and no recordings key is configured"
		return it, nil
	}
	if err != nil {
		it.Action = RecoveryDamaged
		it.Detail = err.Error()
		it.Quarantine, err = s.damage(ctx, r, r.rel)
		return it, err
	}
	pcm := rd.Size() - wavHeaderSize
	rd.Close()
	sum, size, err := audiofile.Hash(p)
	if err != nil {
		it.Action = RecoveryPending
		return it, err
	}
	enc, err := audiofile.IsEncrypted(p)
	if err != nil {
		it.Action = RecoveryPending
		return it, err
	}
	d := time.Duration(pcm/(audiofile.Channels*2)) * time.Second / audiofile.SampleRate
	it.Action = RecoveryCompleted
	it.Detail = fmt.Sprintf("complete file found: %v of audio", d)
	return it, s.markRecovered(ctx, r, d, size, sum, enc)
}

func (s *Service) markRecovered(ctx context.Context, r openRow, d time.Duration, size int64, sum string, enc bool) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE recordings SET state = 'recovered', ended_at = ?,
				duration_ms = ?, size = ?, sha256 = ?, encrypted = ?
			WHERE id = ? AND state = 'recording'`,
			store.FormatTime(r.started.Add(d)), d.Milliseconds(), size, sum, enc, r.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark recording %s recovered: %w", r.id, err)
	}
	return nil
}

// damage flags an open row damaged and moves its leftover fileRel (if not
// "") to quarantine. The row is updated first, pointing at where the file
// goes, so that a crash in between leaves a file Recover quarantines
// again, never a row that names a file kept in the recordings.
func (s *Service) damage(ctx context.Context, r openRow, fileRel string) (string, error) {
	dest := ""
	if fileRel != "" {
		var err error
		if dest, err = s.quarantineName(fileRel); err != nil {
			return "", err
		}
	}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		q := `UPDATE recordings SET state = 'damaged', ended_at = ? WHERE id = ? AND state = 'recording'`
		args := []any{store.FormatTime(s.now()), r.id}
		if dest != "" {
			q = `UPDATE recordings SET state = 'damaged', ended_at = ?, rel_path = ? WHERE id = ? AND state = 'recording'`
			args = []any{store.FormatTime(s.now()), dest, r.id}
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("mark recording %s damaged: %w", r.id, err)
	}
	if dest == "" {
		return "", nil
	}
	if err := s.moveTo(fileRel, dest); err != nil {
		return "", err
	}
	return dest, nil
}

// quarantine moves a file with no recording to the quarantine folder and
// returns its new rel path.
func (s *Service) quarantine(rel string) (string, error) {
	dest, err := s.quarantineName(rel)
	if err != nil {
		return "", err
	}
	if err := s.moveTo(rel, dest); err != nil {
		return "", err
	}
	return dest, nil
}

// quarantineName picks a free name in the quarantine folder for rel.
func (s *Service) quarantineName(rel string) (string, error) {
	base := path.Base(rel)
	for i := 0; ; i++ {
		name := base
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		dest := QuarantineDir + "/" + name
		p, err := s.abs(dest)
		if err != nil {
			return "", err
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return dest, nil
		} else if err != nil {
			return "", fmt.Errorf("quarantine %s: %w", rel, err)
		}
	}
}

func (s *Service) moveTo(rel, dest string) error {
	from, err := s.abs(rel)
	if err != nil {
		return err
	}
	to, err := s.abs(dest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return fmt.Errorf("quarantine %s: %w", rel, err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("quarantine %s: %w", rel, err)
	}
	return errors.Join(syncDir(filepath.Dir(from)), syncDir(filepath.Dir(to)))
}

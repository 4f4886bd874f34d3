package recordings

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

// State is where a recording stands.
type State string

// Recording states.
const (
	// StateRecording: being written, or left open by a crash until the
	// next start-up's Recover.
	StateRecording State = "recording"
	// StateComplete: closed normally.
	StateComplete State = "complete"
	// StateRecovered: completed by Recover after a crash; the audio up to
	// the crash, less at most the last two seconds, is kept.
	StateRecovered State = "recovered"
	// StateDamaged: found after a crash with no usable audio; its leftover
	// file, if any, is in the quarantine folder until it expires.
	StateDamaged State = "damaged"
)

// Recording is a recording's metadata, as the API serves it. It never
// holds the file's path: recordings are named by id.
type Recording struct {
	ID              string     `json:"id"`
	CallID          string     `json:"call_id"`
	Caller          string     `json:"caller"`
	Dialled         string     `json:"dialled"`
	Driver          string     `json:"driver"`
	Flow            string     `json:"flow"`
	FlowVersion     string     `json:"flow_version"`
	Node            string     `json:"node"`
	Queue           string     `json:"queue"`
	ConsentID       string     `json:"consent_id"`
	StartedAt       time.Time  `json:"started_at"`
	EndedAt         *time.Time `json:"ended_at"`
	DurationSeconds float64    `json:"duration_seconds"`
	Size            int64      `json:"size"`
	SHA256          string     `json:"sha256"`
	Encrypted       bool       `json:"encrypted"`
	State           State      `json:"state"`
	Pauses          []Pause    `json:"pauses"`
	ExpiresAt       time.Time  `json:"expires_at"`
	Hold            *Hold      `json:"hold"`

	relPath string
}

// Duration is the length of the audio.
func (r *Recording) Duration() time.Duration {
	return time.Duration(r.DurationSeconds * float64(time.Second))
}

// Pause is a pause of the recording while the caller gave sensitive input.
// The audio of a pause is silence, so offsets keep matching the call.
type Pause struct {
	At time.Time `json:"at"`
	// OffsetSeconds is where the pause starts in the audio.
	OffsetSeconds float64    `json:"offset_seconds"`
	Reason        string     `json:"reason"`
	ResumedAt     *time.Time `json:"resumed_at,omitempty"`
}

// Hold is a legal hold: the recording is kept past its expiry until the
// hold is released.
type Hold struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Filter selects recordings for Search. Zero fields do not filter.
type Filter struct {
	CallID string
	Caller string
	From   time.Time // started at or after
	To     time.Time // started before
	// Agent, when set, keeps only the recordings of calls whose queue
	// contact this agent took (contacts.agent). The API sets it for every
	// search made by an agent.
	Agent  string
	Limit  int // DefaultLimit when 0, MaxLimit at most
	Offset int
}

const recordingColumns = `id, call_id, caller, dialled, driver, flow, flow_version, node,
	queue, consent_id, started_at, ended_at, duration_ms, size, sha256, rel_path, encrypted,
	state, pauses, expires_at, hold_by, hold_reason, hold_at`

// Get returns the recording with the given id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (*Recording, error) {
	r, err := s.get(ctx, s.db.Reader(), id)
	if err != nil {
		return nil, fmt.Errorf("get recording %s: %w", id, err)
	}
	return r, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Service) get(ctx context.Context, q queryRower, id string) (*Recording, error) {
	r, err := scanRecording(q.QueryRowContext(ctx, `SELECT `+recordingColumns+` FROM recordings WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// Search returns the recordings matching f, newest first.
func (s *Service) Search(ctx context.Context, f Filter) ([]Recording, error) {
	var (
		where []string
		args  []any
	)
	if f.CallID != "" {
		where = append(where, "call_id = ?")
		args = append(args, f.CallID)
	}
	if f.Caller != "" {
		where = append(where, "caller = ?")
		args = append(args, f.Caller)
	}
	if !f.From.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, store.FormatTime(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "started_at < ?")
		args = append(args, store.FormatTime(f.To))
	}
	if f.Agent != "" {
		where = append(where, "call_id IN (SELECT call_id FROM contacts WHERE agent = ? AND agent <> '' AND call_id <> '')")
		args = append(args, f.Agent)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := `SELECT ` + recordingColumns + ` FROM recordings`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))

	rows, err := s.db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search recordings: %w", err)
	}
	defer rows.Close()
	out := []Recording{}
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, fmt.Errorf("search recordings: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search recordings: %w", err)
	}
	return out, nil
}

// AgentMayAccess reports whether an agent may reach a recording: it took
// the queue contact of the recording's call. It is false for an unknown
// recording.
func (s *Service) AgentMayAccess(ctx context.Context, agent, recordingID string) (bool, error) {
	if agent == "" {
		return false, nil
	}
	var ok bool
	err := s.db.Reader().QueryRowContext(ctx, `SELECT EXISTS (
		SELECT 1 FROM recordings r JOIN contacts c ON c.call_id = r.call_id
		WHERE r.id = ? AND c.agent = ? AND c.call_id <> '')`, recordingID, agent).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check agent %s access to recording %s: %w", agent, recordingID, err)
	}
	return ok, nil
}

// Open returns the recording's audio as a plain WAV stream, decrypted when
// it is encrypted at rest, with its metadata. The caller closes the
// reader. A recording still being written or damaged is ErrUnavailable.
func (s *Service) Open(ctx context.Context, id string) (*audiofile.Reader, *Recording, error) {
	r, err := s.get(ctx, s.db.Reader(), id)
	if err != nil {
		return nil, nil, fmt.Errorf("open recording %s: %w", id, err)
	}
	if r.State != StateComplete && r.State != StateRecovered {
		return nil, nil, fmt.Errorf("open recording %s: %w: it is %s", id, ErrUnavailable, r.State)
	}
	path, err := s.abs(r.relPath)
	if err != nil {
		return nil, nil, fmt.Errorf("open recording %s: %w", id, err)
	}
	rd, err := audiofile.Open(path, s.key)
	if err != nil {
		return nil, nil, fmt.Errorf("open recording %s: %w", id, err)
	}
	return rd, r, nil
}

func scanRecording(sc scanner) (*Recording, error) {
	var (
		r                               Recording
		started, expires, state, pauses string
		ended, holdBy, holdWhy, holdAt  sql.NullString
		durationMS                      int64
	)
	if err := sc.Scan(&r.ID, &r.CallID, &r.Caller, &r.Dialled, &r.Driver, &r.Flow,
		&r.FlowVersion, &r.Node, &r.Queue, &r.ConsentID, &started, &ended, &durationMS,
		&r.Size, &r.SHA256, &r.relPath, &r.Encrypted, &state, &pauses, &expires,
		&holdBy, &holdWhy, &holdAt); err != nil {
		return nil, err
	}
	r.State = State(state)
	r.DurationSeconds = float64(durationMS) / 1000
	var err error
	if r.StartedAt, err = store.ParseTime(started); err != nil {
		return nil, err
	}
	if r.ExpiresAt, err = store.ParseTime(expires); err != nil {
		return nil, err
	}
	if ended.Valid {
		t, err := store.ParseTime(ended.String)
		if err != nil {
			return nil, err
		}
		r.EndedAt = &t
	}
	if r.Pauses, err = decodePauses(pauses); err != nil {
		return nil, err
	}
	if holdBy.Valid {
		h := &Hold{By: holdBy.String, Reason: holdWhy.String}
		if h.At, err = store.ParseTime(holdAt.String); err != nil {
			return nil, err
		}
		r.Hold = h
	}
	return &r, nil
}

func encodePauses(p []Pause) (string, error) {
	if len(p) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode pauses: %w", err)
	}
	return string(b), nil
}

func decodePauses(s string) ([]Pause, error) {
	p := []Pause{}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("decode pauses: %w", err)
	}
	return p, nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// CallLog is the call log, kept in the calls and visits tables. It
// implements ivr.CallLog.
type CallLog struct {
	db *DB
}

var _ ivr.CallLog = (*CallLog)(nil)

// NewCallLog returns the call log kept in db.
func NewCallLog(db *DB) *CallLog { return &CallLog{db: db} }

// CallFilter selects calls for ListCalls. Zero fields do not filter.
type CallFilter struct {
	Caller  string
	Outcome ivr.Outcome
	Agent   string    // calls this agent took
	Since   time.Time // calls started at or after
	Until   time.Time // calls started before
	Limit   int       // at most this many (DefaultLimit when 0, MaxLimit at most)
	Offset  int
}

// Limits of ListCalls.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// SaveCall inserts or updates the record and replaces its visits, in one
// transaction, so a reader sees either the old record or the new one.
func (l *CallLog) SaveCall(ctx context.Context, r *ivr.CallRecord) error {
	if r.ID == "" {
		return errors.New("save call: empty id")
	}
	vars, err := MarshalVars(r.Vars)
	if err != nil {
		return fmt.Errorf("save call %s: %w", r.ID, err)
	}
	ended, queued, connected := optTime(r.EndedAt), optTime(r.QueuedAt), optTime(r.ConnectedAt)
	err = l.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO calls (id, driver, caller, dialled, flow, flow_version, language,
				started_at, ended_at, digits, outcome, queue, contact_id, queue_wait_ms, vars, error,
				queued_at, agent, connected_at, talk_ms, ended_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET
				driver = excluded.driver, caller = excluded.caller, dialled = excluded.dialled,
				flow = excluded.flow, flow_version = excluded.flow_version,
				language = excluded.language, started_at = excluded.started_at,
				ended_at = excluded.ended_at, digits = excluded.digits,
				outcome = excluded.outcome, queue = excluded.queue,
				contact_id = excluded.contact_id, queue_wait_ms = excluded.queue_wait_ms,
				vars = excluded.vars, error = excluded.error,
				queued_at = excluded.queued_at, agent = excluded.agent,
				connected_at = excluded.connected_at, talk_ms = excluded.talk_ms,
				ended_by = excluded.ended_by`,
			r.ID, r.Driver, r.Caller, r.Dialled, r.Flow, r.FlowVersion, r.Language,
			FormatTime(r.StartedAt), ended, r.Digits, string(r.Outcome), r.Queue,
			r.ContactID, r.QueueWait.Milliseconds(), vars, r.Error,
			queued, r.Agent, connected, r.Talk.Milliseconds(), r.EndedBy); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM visits WHERE call_id = ?`, r.ID); err != nil {
			return err
		}
		if len(r.Visits) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO visits (call_id, seq, node, kind, at, result) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, v := range r.Visits {
			if _, err := stmt.ExecContext(ctx, r.ID, i, v.Node, string(v.Kind), FormatTime(v.At), v.Result); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save call %s: %w", r.ID, err)
	}
	return nil
}

const callColumns = `id, driver, caller, dialled, flow, flow_version, language,
	started_at, ended_at, digits, outcome, queue, contact_id, queue_wait_ms, vars, error,
	queued_at, agent, connected_at, talk_ms, ended_by`

// optTime is an optional time for a nullable column.
func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return FormatTime(*t)
}

// parseOptTime reads a nullable time column.
func parseOptTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := ParseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// GetCall returns the call with the given id and its visits, or ErrNotFound.
func (l *CallLog) GetCall(ctx context.Context, id string) (*ivr.CallRecord, error) {
	row := l.db.r.QueryRowContext(ctx, `SELECT `+callColumns+` FROM calls WHERE id = ?`, id)
	r, err := scanCall(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get call %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get call %s: %w", id, err)
	}
	calls := []ivr.CallRecord{*r}
	if err := l.loadVisits(ctx, calls); err != nil {
		return nil, fmt.Errorf("get call %s: %w", id, err)
	}
	return &calls[0], nil
}

// ListCalls returns the calls matching f, newest first, with their visits.
func (l *CallLog) ListCalls(ctx context.Context, f CallFilter) ([]ivr.CallRecord, error) {
	var (
		where []string
		args  []any
	)
	if f.Caller != "" {
		where = append(where, "caller = ?")
		args = append(args, f.Caller)
	}
	if f.Outcome != "" {
		where = append(where, "outcome = ?")
		args = append(args, string(f.Outcome))
	}
	if f.Agent != "" {
		where = append(where, "agent = ?")
		args = append(args, f.Agent)
	}
	if !f.Since.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "started_at < ?")
		args = append(args, FormatTime(f.Until))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := `SELECT ` + callColumns + ` FROM calls`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))

	rows, err := l.db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	defer rows.Close()
	calls := []ivr.CallRecord{}
	for rows.Next() {
		r, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("list calls: %w", err)
		}
		calls = append(calls, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	if err := l.loadVisits(ctx, calls); err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	return calls, nil
}

// loadVisits fills the visits of calls with one query.
func (l *CallLog) loadVisits(ctx context.Context, calls []ivr.CallRecord) error {
	if len(calls) == 0 {
		return nil
	}
	index := make(map[string]int, len(calls))
	args := make([]any, len(calls))
	for i := range calls {
		index[calls[i].ID] = i
		args[i] = calls[i].ID
		calls[i].Visits = []ivr.Visit{}
	}
	q := `SELECT call_id, node, kind, at, result FROM visits WHERE call_id IN (?` +
		strings.Repeat(", ?", len(calls)-1) + `) ORDER BY call_id, seq`
	rows, err := l.db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("load visits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, at string
			v      ivr.Visit
		)
		if err := rows.Scan(&id, &v.Node, &v.Kind, &at, &v.Result); err != nil {
			return fmt.Errorf("load visits: %w", err)
		}
		if v.At, err = ParseTime(at); err != nil {
			return fmt.Errorf("load visits: %w", err)
		}
		i := index[id]
		calls[i].Visits = append(calls[i].Visits, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load visits: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanCall(s scanner) (*ivr.CallRecord, error) {
	var (
		r                        ivr.CallRecord
		started, vars            string
		ended, queued, connected sql.NullString
		outcome                  string
		waitMS, talkMS           int64
	)
	if err := s.Scan(&r.ID, &r.Driver, &r.Caller, &r.Dialled, &r.Flow, &r.FlowVersion,
		&r.Language, &started, &ended, &r.Digits, &outcome, &r.Queue, &r.ContactID,
		&waitMS, &vars, &r.Error, &queued, &r.Agent, &connected, &talkMS, &r.EndedBy); err != nil {
		return nil, err
	}
	r.Outcome = ivr.Outcome(outcome)
	r.QueueWait = time.Duration(waitMS) * time.Millisecond
	r.Talk = time.Duration(talkMS) * time.Millisecond
	var err error
	if r.StartedAt, err = ParseTime(started); err != nil {
		return nil, err
	}
	if r.EndedAt, err = parseOptTime(ended); err != nil {
		return nil, err
	}
	if r.QueuedAt, err = parseOptTime(queued); err != nil {
		return nil, err
	}
	if r.ConnectedAt, err = parseOptTime(connected); err != nil {
		return nil, err
	}
	if r.Vars, err = UnmarshalVars(vars); err != nil {
		return nil, err
	}
	return &r, nil
}

// MarshalVars encodes flow variables as the JSON object stored in vars
// columns.
func MarshalVars(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode vars: %w", err)
	}
	return string(b), nil
}

// UnmarshalVars decodes a vars column; an empty object gives a nil map.
func UnmarshalVars(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode vars: %w", err)
	}
	return m, nil
}

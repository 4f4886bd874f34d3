package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Retention of the call log and of the queues' contacts. Call records hold
// the caller's number, the path through the menus and the digits typed;
// contacts hold the caller, the intent and the inputs the agent saw;
// callback requests hold the number to call. They are kept for a
// configured time after they end (calls.retention, 180 days by default,
// like recordings), then deleted by the Purger.
const (
	// DefaultCallRetention is how long call records and contacts are kept
	// when nothing else is configured: six months, as recordings.
	DefaultCallRetention = 180 * 24 * time.Hour
	// MinCallRetention is the shortest retention: the statistics of today,
	// the queues' summary over 24 hours and the callbacks' daily limit
	// read the contacts and requests of the last day.
	MinCallRetention = 48 * time.Hour
	// DefaultPurgeBatch is how many rows one purge transaction deletes: the
	// store's single writer is released between batches, so calls in
	// progress keep writing their records during a long purge.
	DefaultPurgeBatch = 500
)

// PurgerConfig configures a Purger.
type PurgerConfig struct {
	// Retention is how long a call record, a contact or a callback request
	// is kept once it ended; at least MinCallRetention.
	Retention time.Duration
	// Batch is how many rows one transaction deletes; DefaultPurgeBatch
	// when 0.
	Batch int
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Purger deletes the call records, queue contacts and callback requests
// whose retention has ended.
//
// What stays, whatever its age: a contact still waiting or in
// conversation, a callback request pending or in an attempt, and the call
// records and contacts of a call that still has a recording (not expired
// yet, or under a legal hold): they go at the first purge after their
// recordings, so an agent keeps reaching the recordings of the calls it
// took as long as they exist.
type Purger struct {
	db        *DB
	retention time.Duration
	batch     int
	now       func() time.Time
	log       *slog.Logger
	mu        sync.Mutex // one purge at a time
}

// NewPurger returns the purger of db's call log and queues.
func NewPurger(db *DB, cfg PurgerConfig) (*Purger, error) {
	if cfg.Retention < MinCallRetention {
		return nil, fmt.Errorf("call retention %v: want at least %v", cfg.Retention, MinCallRetention)
	}
	p := &Purger{db: db, retention: cfg.Retention, batch: cfg.Batch, now: cfg.Now, log: cfg.Logger}
	if p.batch <= 0 {
		p.batch = DefaultPurgeBatch
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// Retention is how long the purger keeps what ended.
func (p *Purger) Retention() time.Duration { return p.retention }

// PurgeReport counts what a purge deleted, or with DryRun what it would.
type PurgeReport struct {
	DryRun bool `json:"dry_run"`
	// Before: what ended before this time went (now minus the retention).
	Before           time.Time `json:"before"`
	Calls            int       `json:"calls"`
	Contacts         int       `json:"contacts"`
	Callbacks        int       `json:"callbacks"`
	CallbackAttempts int       `json:"callback_attempts"`
	CallbackOffers   int       `json:"callback_offers"`
}

// Total is the number of rows the report counts (visits apart, which go
// with their call).
func (r PurgeReport) Total() int {
	return r.Calls + r.Contacts + r.Callbacks + r.CallbackAttempts + r.CallbackOffers
}

// The rows past their retention. Each query takes the cutoff (FormatTime
// of now minus the retention) as its only parameter, ?1.
const (
	// Calls: started and ended before the cutoff (a call a crash left
	// without its end counts from its start), with no recording left, and
	// not the call of a contact still waiting or in conversation, nor the
	// call that asked for a callback still open.
	expiredCalls = `FROM calls c
		WHERE c.started_at < ?1 AND COALESCE(c.ended_at, c.started_at) < ?1
			AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id)
			AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.call_id <> '' AND k.call_id = c.id
				AND (k.state = 'waiting' OR k.state = 'connected' AND k.ended_at IS NULL))
			AND c.id NOT IN (SELECT request_call_id FROM callbacks WHERE state IN ('pending', 'active'))`

	// Contacts: left the queue, and ended their conversation if they had
	// one, before the cutoff; a callback request over (completed, failed
	// or cancelled) before it; no recording left of their call, nor of the
	// calls of their callback attempts.
	expiredContacts = `FROM contacts k
		WHERE k.left_at IS NOT NULL AND k.left_at < ?1 AND k.state <> 'waiting'
			AND (k.ended_at < ?1 OR k.ended_at IS NULL AND k.state <> 'connected')
			AND NOT EXISTS (SELECT 1 FROM callbacks cb WHERE cb.id = k.id
				AND (cb.state IN ('pending', 'active') OR cb.requested_at >= ?1 OR cb.completed_at >= ?1))
			AND (k.call_id = '' OR NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = k.call_id))
			AND NOT EXISTS (SELECT 1 FROM callback_attempts a JOIN recordings r ON r.call_id = a.call_id
				WHERE a.callback_id = k.id AND a.call_id <> '')`

	// Callback requests over before the cutoff whose contact row is gone
	// (the two share their id; there is no foreign key between them).
	orphanCallbacks = `FROM callbacks cb
		WHERE cb.state IN ('completed', 'failed', 'cancelled')
			AND cb.requested_at < ?1 AND COALESCE(cb.completed_at, cb.requested_at) < ?1
			AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.id = cb.id)`

	// Callback offers: a queue and a time, for the statistics; kept no
	// longer than the contacts they are counted with.
	expiredOffers = `FROM callback_offers o WHERE o.at < ?1`
)

// Purge deletes the call records (with their visits), contacts, callback
// requests (with their attempts) and callback offers past the retention,
// or with dryRun only counts them. It goes in batches, one transaction
// each; interrupted, it leaves the rest for the next purge.
func (p *Purger) Purge(ctx context.Context, dryRun bool) (PurgeReport, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rep := PurgeReport{DryRun: dryRun, Before: p.now().Add(-p.retention).UTC()}
	var err error
	if dryRun {
		err = p.count(ctx, &rep)
	} else {
		err = p.purge(ctx, &rep)
	}
	if err != nil {
		return rep, fmt.Errorf("purge call records: %w", err)
	}
	return rep, nil
}

// count fills rep with what a purge would delete, changing nothing.
func (p *Purger) count(ctx context.Context, rep *PurgeReport) error {
	cut := FormatTime(rep.Before)
	// Callback requests go with their contact, or alone when orphaned.
	callbackIDs := `SELECT k.id ` + expiredContacts + ` UNION ALL SELECT cb.id ` + orphanCallbacks
	for _, c := range []struct {
		n     *int
		query string
	}{
		{&rep.Calls, `SELECT count(*) ` + expiredCalls},
		{&rep.Contacts, `SELECT count(*) ` + expiredContacts},
		{&rep.Callbacks, `SELECT count(*) FROM callbacks WHERE id IN (` + callbackIDs + `)`},
		{&rep.CallbackAttempts, `SELECT count(*) FROM callback_attempts WHERE callback_id IN (` + callbackIDs + `)`},
		{&rep.CallbackOffers, `SELECT count(*) ` + expiredOffers},
	} {
		if err := p.db.r.QueryRowContext(ctx, c.query, cut).Scan(c.n); err != nil {
			return fmt.Errorf("count expired rows: %w", err)
		}
	}
	return nil
}

func (p *Purger) purge(ctx context.Context, rep *PurgeReport) error {
	cut := FormatTime(rep.Before)
	// Contacts first, with their callback requests; the calls' records
	// after, as they no longer wait on contacts that are gone.
	steps := []struct {
		what   string
		query  string
		delete func(ctx context.Context, tx *sql.Tx, id string, rep *PurgeReport) error
	}{
		{"contacts", `SELECT k.id ` + expiredContacts + ` ORDER BY k.left_at LIMIT ?2`, deleteContact},
		{"callbacks", `SELECT cb.id ` + orphanCallbacks + ` ORDER BY cb.requested_at LIMIT ?2`, deleteCallback},
		{"calls", `SELECT c.id ` + expiredCalls + ` ORDER BY c.started_at LIMIT ?2`, deleteCall},
		{"callback offers", `SELECT o.id ` + expiredOffers + ` ORDER BY o.at LIMIT ?2`, deleteOffer},
	}
	for _, st := range steps {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := 0
			err := p.db.Write(ctx, func(tx *sql.Tx) error {
				ids, err := queryIDs(ctx, tx, st.query, cut, p.batch)
				if err != nil {
					return err
				}
				n = len(ids)
				for _, id := range ids {
					if err := st.delete(ctx, tx, id, rep); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("delete expired %s: %w", st.what, err)
			}
			if n < p.batch {
				break
			}
		}
	}
	return nil
}

func queryIDs(ctx context.Context, tx *sql.Tx, query, cut string, limit int) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, cut, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// exec runs a delete and returns how many rows went.
func exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// deleteCallback deletes a callback request and its attempts. The
// attempts are deleted by name rather than through the foreign key's
// cascade, so that the count is right and nothing depends on the pragma.
func deleteCallback(ctx context.Context, tx *sql.Tx, id string, rep *PurgeReport) error {
	n, err := exec(ctx, tx, `DELETE FROM callback_attempts WHERE callback_id = ?`, id)
	if err != nil {
		return err
	}
	rep.CallbackAttempts += n
	if n, err = exec(ctx, tx, `DELETE FROM callbacks WHERE id = ?`, id); err != nil {
		return err
	}
	rep.Callbacks += n
	return nil
}

func deleteContact(ctx context.Context, tx *sql.Tx, id string, rep *PurgeReport) error {
	if err := deleteCallback(ctx, tx, id, rep); err != nil {
		return err
	}
	n, err := exec(ctx, tx, `DELETE FROM contacts WHERE id = ?`, id)
	rep.Contacts += n
	return err
}

func deleteCall(ctx context.Context, tx *sql.Tx, id string, rep *PurgeReport) error {
	if _, err := exec(ctx, tx, `DELETE FROM visits WHERE call_id = ?`, id); err != nil {
		return err
	}
	n, err := exec(ctx, tx, `DELETE FROM calls WHERE id = ?`, id)
	rep.Calls += n
	return err
}

func deleteOffer(ctx context.Context, tx *sql.Tx, id string, rep *PurgeReport) error {
	n, err := exec(ctx, tx, `DELETE FROM callback_offers WHERE id = ?`, id)
	rep.CallbackOffers += n
	return err
}

// Run purges now, then every interval (an hour when not positive), until
// ctx is done. Each purge that deleted something is logged with its
// counts.
func (p *Purger) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		rep, err := p.Purge(ctx, false)
		switch {
		case err != nil && ctx.Err() != nil:
			return // stopping
		case err != nil:
			p.log.ErrorContext(ctx, "call records purge", "err", err, "calls", rep.Calls, "contacts", rep.Contacts)
		case rep.Total() > 0:
			p.log.InfoContext(ctx, "call records purged", "before", rep.Before, "calls", rep.Calls,
				"contacts", rep.Contacts, "callbacks", rep.Callbacks, "callback_attempts", rep.CallbackAttempts,
				"callback_offers", rep.CallbackOffers, "took", time.Since(start))
		default:
			p.log.DebugContext(ctx, "call records purge: nothing expired", "before", rep.Before)
		}
		t.Reset(interval)
	}
}

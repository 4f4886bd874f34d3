package routing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

// Callback requests (ivr/callback.go) wait in the queues as contacts of
// channel callback, at the place the caller had (virtual hold), ordered
// among calls by priority then EnqueuedAt exactly like calls. What only a
// callback has — the number, the mode, the attempts — is a row of
// callbacks, written in the same transaction as the contact's.
//
// A request is served in attempts, each handed to the engine's handler
// (HandleCallbacks) in its own goroutine with a CallbackWaiting of its own:
//
//   - agent-first: when the router offers the request to an agent (as it
//     would a call, taking the agent's voice capacity) and no attempt is in
//     progress, an attempt starts with that offer as its first event.
//     Offers withdrawn or declined are made again within the attempt.
//   - caller-first: when the request would be offered (its turn, and a
//     qualified agent free), an attempt starts with EventTurn instead; the
//     request is offered to no one while the customer is being called, and
//     to agents once Reached.
//
// Failed ends an attempt that did not reach the customer: an agent taken
// for it is released without wrap-up, and the request waits for its next
// attempt at its place, or fails. Ending the conversation completes it.

const (
	// attemptDrain bounds how long Close waits for the callback attempts
	// in progress to return once their context is cancelled.
	attemptDrain = 5 * time.Second
	// MaxNumberLen bounds a number to call back: E.164 has 15 digits, the
	// rest leaves room for national prefixes.
	MaxNumberLen = 32
	// MaxCallbackAttempts bounds a request's attempts.
	MaxCallbackAttempts = 20
	// MaxRetryDelay bounds the delay between two attempts.
	MaxRetryDelay = 7 * 24 * time.Hour
	// callbackWindow is how far back the daily limit counts requests.
	callbackWindow = 24 * time.Hour
)

// Results of a callback attempt recorded by the queue itself, beside the
// engine's (ivr.CallbackBusy, ...).
const (
	// ResultCompleted: the customer talked to an agent.
	ResultCompleted = "completed"
	// ResultInterrupted: ivrd stopped during the attempt.
	ResultInterrupted = "interrupted"
)

// callback is what a callback contact has beside its context.
type callback struct {
	number      string
	mode        string
	calendar    string
	node        string
	notBefore   time.Time
	maxAttempts int
	retryDelay  time.Duration
	state       string
	attempts    int
	next        time.Time // zero when no attempt is due
	requestedAt time.Time
	expected    time.Time
	lastResult  string
	// cancel is the reason of a cancellation asked during an attempt: the
	// attempt goes on, no other follows.
	cancel string
	att    *cbAttempt // the attempt in progress, if any
}

func newCallback(cb *ivr.Callback) *callback {
	return &callback{
		number: cb.Number, mode: cb.Mode, calendar: cb.Calendar, node: cb.Node,
		notBefore: cb.NotBefore, maxAttempts: cb.MaxAttempts, retryDelay: cb.RetryDelay,
		state: cb.State, attempts: cb.Attempts, next: cb.NextAttempt,
		requestedAt: cb.RequestedAt, expected: cb.Expected,
	}
}

// cbAttempt is one attempt at calling the customer.
type cbAttempt struct {
	n int
	w *cbWaiting
	// dialling: caller-first, the customer is being called and no agent
	// is offered the request until Reached.
	dialling bool
	reached  bool
	callID   string
}

// cbWaiting is the request's place in the queue during one attempt. Its
// methods act only while its attempt is the request's current one: the
// engine may hold a finished attempt's.
type cbWaiting struct {
	waiting
	att *cbAttempt
}

var (
	_ ivr.Callbacks       = (*Queues)(nil)
	_ ivr.CallbackWaiting = (*cbWaiting)(nil)
)

// CallbackInfo is what a callback contact shows beside its context: the
// number to call and how its attempts go.
type CallbackInfo struct {
	Number      string `json:"number"`
	Mode        string `json:"mode"`
	State       string `json:"state"`
	Attempts    int    `json:"attempts"` // made so far, the one in progress included
	MaxAttempts int    `json:"max_attempts"`
	// NextAttempt is when the next attempt may be made, while pending.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	// Reached says the customer answered the attempt in progress.
	Reached bool `json:"reached,omitempty"`
}

// CallbackRecord is a callback request as the API lists it, with its
// attempts.
type CallbackRecord struct {
	ID                string                  `json:"id"`
	Number            string                  `json:"number"`
	Queue             string                  `json:"queue"`
	Mode              string                  `json:"mode"`
	State             string                  `json:"state"`
	Intent            string                  `json:"intent,omitempty"`
	Language          string                  `json:"language,omitempty"`
	Priority          int                     `json:"priority"`
	Flow              string                  `json:"flow,omitempty"`
	Node              string                  `json:"node,omitempty"`
	Calendar          string                  `json:"calendar,omitempty"`
	MaxAttempts       int                     `json:"max_attempts"`
	RetryDelaySeconds float64                 `json:"retry_delay_seconds"`
	AttemptsMade      int                     `json:"attempts_made"`
	LastResult        string                  `json:"last_result,omitempty"`
	CancelReason      string                  `json:"cancel_reason,omitempty"`
	RequestCallID     string                  `json:"request_call_id,omitempty"`
	EnqueuedAt        time.Time               `json:"enqueued_at"` // its place in the queue
	RequestedAt       time.Time               `json:"requested_at"`
	NotBefore         *time.Time              `json:"not_before,omitempty"`
	NextAttempt       *time.Time              `json:"next_attempt,omitempty"`
	Expected          *time.Time              `json:"expected,omitempty"`
	ConnectedAt       *time.Time              `json:"connected_at,omitempty"`
	CompletedAt       *time.Time              `json:"completed_at,omitempty"` // completed, failed or cancelled
	Attempts          []CallbackAttemptRecord `json:"attempts"`
}

// CallbackAttemptRecord is one call placed for a request.
type CallbackAttemptRecord struct {
	Attempt   int        `json:"attempt"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Result    string     `json:"result,omitempty"`
	CallID    string     `json:"call_id,omitempty"`
	Agent     string     `json:"agent,omitempty"`
}

// CallbackFilter selects the requests ListCallbacks returns.
type CallbackFilter struct {
	State string // one of the ivr.Callback* states; empty: any
	Queue string // empty: every queue
	Limit int    // 1 to MaxCallbackList; 0: DefaultCallbackList
}

// Limits of ListCallbacks.
const (
	DefaultCallbackList = 100
	MaxCallbackList     = 500
)

// ValidCallbackState reports whether s is a state of a callback request.
func ValidCallbackState(s string) bool {
	switch s {
	case ivr.CallbackPending, ivr.CallbackActive, ivr.CallbackCompleted, ivr.CallbackFailed, ivr.CallbackCancelled:
		return true
	}
	return false
}

// ValidNumber reports whether s is a number ivrd can call back: digits,
// with an optional leading +.
func ValidNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) >= MaxNumberLen {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// HandleCallbacks sets the function that makes the callback attempts (the
// engine's ServeCallback). Set it once, before Recover and the first
// request: without it, callback requests wait and are offered to no one.
// Each attempt runs h in its own goroutine, with a context that Close
// cancels.
func (q *Queues) HandleCallbacks(h func(ctx context.Context, a ivr.CallbackAttempt)) {
	_ = q.do(context.Background(), func(now time.Time, fx *effects) error {
		q.onAttempt = h
		q.match(now, fx)
		return nil
	})
}

// RequestCallback stores a callback request and puts it in its queue at
// the caller's place (r.Contact.EnqueuedAt). It returns once the request
// is on disk. A number with an open request (pending or active) in that
// queue gets that request back with an error wrapping
// ivr.ErrCallbackExists; a number that asked routing.callbacks.max_per_day
// callbacks in the last 24 hours, across queues, ivr.ErrCallbackLimit.
func (q *Queues) RequestCallback(ctx context.Context, r ivr.CallbackRequest) (ivr.Callback, error) {
	now := q.clock.Now()
	c := r.Contact
	if c.Channel == "" {
		c.Channel = ChannelCallback
	}
	if c.ID == "" {
		c.ID = newID()
	}
	if c.EnqueuedAt.IsZero() {
		c.EnqueuedAt = now
	}
	if r.Mode == "" {
		r.Mode = ivr.CallbackAgentFirst
	}
	if err := validateRequest(&r, &c); err != nil {
		return ivr.Callback{}, fmt.Errorf("request callback: %w", err)
	}
	r.Contact = c
	cb := &callback{
		number: r.Number, mode: r.Mode, calendar: r.Calendar, node: r.Node,
		notBefore: r.NotBefore, maxAttempts: r.MaxAttempts, retryDelay: r.RetryDelay,
		state: ivr.CallbackPending, next: now, requestedAt: now,
	}
	if r.NotBefore.After(now) {
		cb.next = r.NotBefore
	}
	ct := newContact(c)
	ct.cb = cb

	// Known before it is stored, so that a concurrent Recover leaves its
	// row alone; listed only once stored. Its expected time is where it
	// would stand now.
	q.mu.Lock()
	_, dup := q.contacts[c.ID]
	if !dup {
		q.contacts[c.ID] = ct
		cb.expected = later(cb.next, now.Add(q.ewt(ct, q.wouldStand(ct))))
	}
	warn := q.onAttempt == nil && !q.noHandler
	q.noHandler = q.noHandler || warn
	q.mu.Unlock()
	if dup {
		return ivr.Callback{}, fmt.Errorf("request callback: %w: contact %s already waiting", ErrInvalidContact, c.ID)
	}
	if warn {
		q.log.WarnContext(ctx, "callback requested but nothing places callbacks: it waits in its queue")
	}
	var existing *callbackRow
	err := q.db.WriteDurable(ctx, func(tx *sql.Tx) error {
		open, err := q.callbackRows(ctx, tx, `cb.number = ? AND cb.queue = ? AND cb.state IN ('pending', 'active')`,
			r.Number, c.Queue)
		if err != nil {
			return err
		}
		if len(open) > 0 {
			existing = &open[0]
			return fmt.Errorf("%w: %s in queue %s (%s)", ivr.ErrCallbackExists, r.Number, c.Queue, existing.ID)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM callbacks WHERE number = ? AND requested_at > ?`,
			r.Number, store.FormatTime(now.Add(-callbackWindow))).Scan(&n); err != nil {
			return fmt.Errorf("count requests: %w", err)
		}
		if n >= q.cfg.Callbacks.MaxPerDay {
			return fmt.Errorf("%w: %d requests for %s in 24 hours, at most %d", ivr.ErrCallbackLimit, n, r.Number, q.cfg.Callbacks.MaxPerDay)
		}
		if err := insertContact(ctx, tx, &c); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO callbacks (id, number, queue, not_before, calendar, flow, node,
				mode, max_attempts, retry_delay_ms, record, state, next_attempt, requested_at, expected_at, request_call_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
			c.ID, r.Number, c.Queue, nullTime(r.NotBefore), r.Calendar, c.Flow, r.Node,
			r.Mode, r.MaxAttempts, r.RetryDelay.Milliseconds(), r.Contact.Record, store.FormatTime(cb.next),
			store.FormatTime(now), store.FormatTime(cb.expected), c.CallID)
		if err != nil {
			return fmt.Errorf("insert callback %s: %w", c.ID, err)
		}
		return nil
	})
	if err != nil {
		q.mu.Lock()
		delete(q.contacts, c.ID)
		q.mu.Unlock()
		if existing != nil {
			return existing.Callback, fmt.Errorf("request callback: %w", err)
		}
		return ivr.Callback{}, fmt.Errorf("request callback: %w", err)
	}
	out := q.snapshot(ct)
	_ = q.do(ctx, func(now time.Time, fx *effects) error {
		q.list(ct)
		q.match(now, fx)
		return nil
	})
	q.log.InfoContext(ctx, "callback requested", "contact_id", c.ID, "queue", c.Queue, "mode", r.Mode,
		"call_id", c.CallID, "next_attempt", out.NextAttempt, "expected", out.Expected)
	return out, nil
}

// validateRequest checks a request before it is stored; c is its contact.
func validateRequest(r *ivr.CallbackRequest, c *ivr.Contact) error {
	switch {
	case c.Channel != ChannelCallback:
		return fmt.Errorf("%w: channel %q: a callback request's contact is of channel callback", ErrInvalidContact, c.Channel)
	case !ValidNumber(r.Number):
		return fmt.Errorf("%w: number %q: want digits with an optional leading +, at most %d", ErrInvalidContact, r.Number, MaxNumberLen-1)
	case r.Mode != ivr.CallbackAgentFirst && r.Mode != ivr.CallbackCallerFirst:
		return fmt.Errorf("%w: mode %q: want %s or %s", ErrInvalidContact, r.Mode, ivr.CallbackAgentFirst, ivr.CallbackCallerFirst)
	case r.MaxAttempts < 1 || r.MaxAttempts > MaxCallbackAttempts:
		return fmt.Errorf("%w: max attempts %d: want 1 to %d", ErrInvalidContact, r.MaxAttempts, MaxCallbackAttempts)
	case r.RetryDelay < 0 || r.RetryDelay > MaxRetryDelay:
		return fmt.Errorf("%w: retry delay %s: want 0 to %s", ErrInvalidContact, r.RetryDelay, MaxRetryDelay)
	case len(r.Calendar) > MaxNameLen || len(r.Node) > MaxFieldLen:
		return fmt.Errorf("%w: calendar or node name too long", ErrInvalidContact)
	}
	return Validate(c)
}

// wouldStand is the position c would have in its queue if listed now.
func (q *Queues) wouldStand(c *contact) int {
	c.seq = math.MaxUint64 // after the contacts already listed with the same place
	pos := 1
	for _, d := range q.order {
		if d.info.Queue == c.info.Queue && d.before(c) {
			pos++
		}
	}
	return pos
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.FormatTime(t)
}

// snapshot is c's request as the engine sees it.
func (q *Queues) snapshot(c *contact) ivr.Callback {
	q.mu.Lock()
	defer q.mu.Unlock()
	return c.callback()
}

// callback is c's request; the router's mutex is held (or c not shared).
func (c *contact) callback() ivr.Callback {
	cb := c.cb
	info := c.info
	info.Skills = slices.Clone(c.info.Skills)
	info.Vars = maps.Clone(c.info.Vars)
	info.Path = slices.Clone(c.info.Path)
	return ivr.Callback{
		ID: c.id,
		CallbackRequest: ivr.CallbackRequest{
			Contact: info, Number: cb.number, NotBefore: cb.notBefore, Calendar: cb.calendar,
			MaxAttempts: cb.maxAttempts, RetryDelay: cb.retryDelay, Mode: cb.mode, Node: cb.node,
		},
		State: cb.state, Attempts: cb.attempts, RequestedAt: cb.requestedAt,
		NextAttempt: cb.next, Expected: cb.expected,
	}
}

// PendingCallbacks lists the open requests (pending or active) for number,
// in every queue, oldest first.
func (q *Queues) PendingCallbacks(ctx context.Context, number string) ([]ivr.Callback, error) {
	rows, err := q.callbackRows(ctx, q.db.Reader(), `cb.number = ? AND cb.state IN ('pending', 'active')`, number)
	if err != nil {
		return nil, fmt.Errorf("pending callbacks: %w", err)
	}
	out := make([]ivr.Callback, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Callback)
	}
	return out, nil
}

// CancelCallback cancels a pending request: it leaves its queue. An
// attempt in progress is not stopped: the request is cancelled when it
// ends without reaching the customer, and no other attempt follows. It
// fails with store.ErrNotFound for an unknown id and ErrCallbackState for a
// request already over.
func (q *Queues) CancelCallback(ctx context.Context, id, reason string) error {
	if reason == "" {
		reason = "cancelled"
	}
	if len(reason) > MaxFieldLen {
		reason = reason[:MaxFieldLen]
	}
	found := false
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		c := q.contacts[id]
		if c == nil {
			return nil
		}
		found = true
		cb := c.cb
		if cb == nil {
			return fmt.Errorf("%w: contact %s is a %s contact, not a callback", ErrInvalidContact, id, c.info.Channel)
		}
		if cb.att != nil {
			cb.cancel = reason
			fx.exec(`UPDATE callbacks SET cancel_reason = ? WHERE id = ?`, reason, id)
			q.log.Info("callback cancelled during an attempt: no attempt follows it", "contact_id", id, "reason", reason)
			return nil
		}
		if c.state != contactWaiting {
			return fmt.Errorf("%w: it is reserved", ErrCallbackState) // only during attempts: not reached
		}
		cb.state, cb.next, cb.cancel = ivr.CallbackCancelled, time.Time{}, reason
		fx.exec(`UPDATE callbacks SET state = 'cancelled', next_attempt = NULL, completed_at = ?, cancel_reason = ?
			WHERE id = ?`, store.FormatTime(now), reason, id)
		q.leave(c, StateClosed, "callback cancelled: "+reason, now, fx)
		q.match(now, fx)
		return nil
	})
	if err == nil && !found {
		err = q.cancelStored(ctx, id, reason)
	}
	if err != nil {
		return fmt.Errorf("cancel callback %s: %w", id, err)
	}
	q.log.InfoContext(ctx, "callback cancelled", "contact_id", id, "reason", reason)
	return nil
}

// cancelStored cancels a request this router does not hold: one of the
// store that Recover did not load (yet), or one already over.
func (q *Queues) cancelStored(ctx context.Context, id, reason string) error {
	now := store.FormatTime(q.clock.Now())
	return q.db.Write(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM callbacks WHERE id = ?`, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		switch state {
		case ivr.CallbackActive:
			_, err = tx.ExecContext(ctx, `UPDATE callbacks SET cancel_reason = ? WHERE id = ?`, reason, id)
			return err
		case ivr.CallbackPending:
		default:
			return fmt.Errorf("%w: it is %s", ErrCallbackState, state)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET state = 'cancelled', next_attempt = NULL,
				completed_at = ?, cancel_reason = ? WHERE id = ?`, now, reason, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE contacts SET state = 'closed', reason = ?, left_at = ?
			WHERE id = ? AND state = 'waiting'`, "callback cancelled: "+reason, now, id)
		return err
	})
}

// CallbackOffered counts a callback offered to a caller in queue, taken or
// not: the statistics' callbacks offered.
func (q *Queues) CallbackOffered(ctx context.Context, queue string) error {
	if !ValidName(queue) {
		return fmt.Errorf("count callback offered: %w: queue %q", ErrInvalidContact, queue)
	}
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO callback_offers (queue, at) VALUES (?, ?)`,
			queue, store.FormatTime(q.clock.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("count callback offered: %w", err)
	}
	return nil
}

// ListCallbacks returns the requests f selects, newest first, with their
// attempts.
func (q *Queues) ListCallbacks(ctx context.Context, f CallbackFilter) ([]CallbackRecord, error) {
	if f.State != "" && !ValidCallbackState(f.State) {
		return nil, fmt.Errorf("list callbacks: %w: state %q", ErrInvalidContact, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultCallbackList
	}
	limit = min(limit, MaxCallbackList)
	where, args := []string{"1"}, []any{}
	if f.State != "" {
		where, args = append(where, "cb.state = ?"), append(args, f.State)
	}
	if f.Queue != "" {
		where, args = append(where, "cb.queue = ?"), append(args, f.Queue)
	}
	rows, err := q.callbackRows(ctx, q.db.Reader(),
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY cb.requested_at DESC, cb.rowid DESC LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	out, err := q.records(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	return out, nil
}

// Callback returns one request, with its attempts; store.ErrNotFound for an
// unknown id.
func (q *Queues) Callback(ctx context.Context, id string) (CallbackRecord, error) {
	rows, err := q.callbackRows(ctx, q.db.Reader(), `cb.id = ?`, id)
	if err != nil {
		return CallbackRecord{}, fmt.Errorf("read callback %s: %w", id, err)
	}
	if len(rows) == 0 {
		return CallbackRecord{}, fmt.Errorf("read callback %s: %w", id, store.ErrNotFound)
	}
	out, err := q.records(ctx, rows)
	if err != nil {
		return CallbackRecord{}, fmt.Errorf("read callback %s: %w", id, err)
	}
	return out[0], nil
}

// callbackRow is a row of callbacks with its contact.
type callbackRow struct {
	ivr.Callback
	lastResult, cancelReason, requestCallID string
	connectedAt, completedAt                time.Time
}

// querier is a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// callbackRows reads the requests where selects (callbacks as cb, contacts
// as c), oldest first unless where orders them.
func (q *Queues) callbackRows(ctx context.Context, db querier, where string, args ...any) ([]callbackRow, error) {
	query := `SELECT cb.id, cb.number, cb.not_before, cb.calendar, cb.node, cb.mode, cb.max_attempts,
			cb.retry_delay_ms, cb.record, cb.state, cb.attempts, cb.next_attempt, cb.requested_at, cb.expected_at,
			cb.connected_at, cb.completed_at, cb.last_result, cb.cancel_reason, cb.request_call_id,
			c.channel, c.queue, c.call_id, c.caller, c.dialled, c.language, c.intent, c.priority,
			c.skills, c.vars, c.path, c.flow, c.flow_version, c.enqueued_at
		FROM callbacks cb JOIN contacts c ON c.id = cb.id WHERE ` + where
	if !strings.Contains(where, "ORDER BY") {
		query += ` ORDER BY cb.requested_at, cb.rowid`
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read callbacks: %w", err)
	}
	defer rows.Close()
	var out []callbackRow
	for rows.Next() {
		var (
			r                                          callbackRow
			notBefore, next, expected, conn, completed sql.NullString
			requested, sk, vs, ps, enq                 string
			delayMS                                    int64
		)
		c := &r.Contact
		if err := rows.Scan(&r.ID, &r.Number, &notBefore, &r.Calendar, &r.Node, &r.Mode, &r.MaxAttempts,
			&delayMS, &c.Record, &r.State, &r.Attempts, &next, &requested, &expected,
			&conn, &completed, &r.lastResult, &r.cancelReason, &r.requestCallID,
			&c.Channel, &c.Queue, &c.CallID, &c.Caller, &c.Dialled, &c.Language, &c.Intent, &c.Priority,
			&sk, &vs, &ps, &c.Flow, &c.FlowVersion, &enq); err != nil {
			return nil, fmt.Errorf("read callbacks: %w", err)
		}
		c.ID = r.ID
		if err := decodeContact(c, sk, vs, ps, enq); err != nil {
			return nil, err
		}
		r.RetryDelay = time.Duration(delayMS) * time.Millisecond
		var err error
		if r.RequestedAt, err = store.ParseTime(requested); err != nil {
			return nil, fmt.Errorf("callback %s: %w", r.ID, err)
		}
		for _, t := range []struct {
			s   sql.NullString
			dst *time.Time
		}{{notBefore, &r.NotBefore}, {next, &r.NextAttempt}, {expected, &r.Expected},
			{conn, &r.connectedAt}, {completed, &r.completedAt}} {
			if !t.s.Valid {
				continue
			}
			if *t.dst, err = store.ParseTime(t.s.String); err != nil {
				return nil, fmt.Errorf("callback %s: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// records adds their attempts to rows.
func (q *Queues) records(ctx context.Context, rows []callbackRow) ([]CallbackRecord, error) {
	out := make([]CallbackRecord, 0, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	byID := make(map[string]int, len(rows))
	ids := make([]any, 0, len(rows))
	for _, r := range rows {
		rec := CallbackRecord{
			ID: r.ID, Number: r.Number, Queue: r.Contact.Queue, Mode: r.Mode, State: r.State,
			Intent: r.Contact.Intent, Language: r.Contact.Language, Priority: r.Contact.Priority,
			Flow: r.Contact.Flow, Node: r.Node, Calendar: r.Calendar, MaxAttempts: r.MaxAttempts,
			RetryDelaySeconds: seconds(r.RetryDelay), AttemptsMade: r.Attempts, LastResult: r.lastResult,
			CancelReason: r.cancelReason, RequestCallID: r.requestCallID, EnqueuedAt: r.Contact.EnqueuedAt,
			RequestedAt: r.RequestedAt, NotBefore: timePtr(r.NotBefore), NextAttempt: timePtr(r.NextAttempt),
			Expected: timePtr(r.Expected), ConnectedAt: timePtr(r.connectedAt), CompletedAt: timePtr(r.completedAt),
			Attempts: []CallbackAttemptRecord{},
		}
		byID[r.ID] = len(out)
		ids = append(ids, r.ID)
		out = append(out, rec)
	}
	res, err := q.db.Reader().QueryContext(ctx, `SELECT callback_id, attempt, started_at, ended_at, result, call_id, agent
		FROM callback_attempts WHERE callback_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY callback_id, attempt`, ids...)
	if err != nil {
		return nil, fmt.Errorf("read callback attempts: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var (
			id, started string
			ended       sql.NullString
			a           CallbackAttemptRecord
		)
		if err := res.Scan(&id, &a.Attempt, &started, &ended, &a.Result, &a.CallID, &a.Agent); err != nil {
			return nil, fmt.Errorf("read callback attempts: %w", err)
		}
		if a.StartedAt, err = store.ParseTime(started); err != nil {
			return nil, err
		}
		if ended.Valid {
			t, err := store.ParseTime(ended.String)
			if err != nil {
				return nil, err
			}
			a.EndedAt = &t
		}
		rec := &out[byID[id]]
		rec.Attempts = append(rec.Attempts, a)
	}
	return out, res.Err()
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// callbackInfos reads the callback part of the open requests of queue (all
// queues when empty), for the contacts List reads from the store.
func (q *Queues) callbackInfos(ctx context.Context, queue string) (map[string]*CallbackInfo, error) {
	where, args := `cb.state IN ('pending', 'active')`, []any{}
	if queue != "" {
		where, args = where+` AND cb.queue = ?`, append(args, queue)
	}
	rows, err := q.callbackRows(ctx, q.db.Reader(), where, args...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*CallbackInfo, len(rows))
	for _, r := range rows {
		info := &CallbackInfo{Number: r.Number, Mode: r.Mode, State: r.State, Attempts: r.Attempts,
			MaxAttempts: r.MaxAttempts, RequestedAt: r.RequestedAt}
		if r.State == ivr.CallbackPending {
			info.NextAttempt = timePtr(r.NextAttempt)
		}
		out[r.ID] = info
	}
	return out, nil
}

// waitingOf is c as the API lists it, with its wait at end.
func (q *Queues) waitingOf(c *contact, end time.Time) WaitingContact {
	w := waitingContact(&c.info, end)
	if cb := c.cb; cb != nil {
		w.Callback = &CallbackInfo{Number: cb.number, Mode: cb.mode, State: cb.state, Attempts: cb.attempts,
			MaxAttempts: cb.maxAttempts, RequestedAt: cb.requestedAt, NextAttempt: timePtr(cb.next),
			Reached: cb.att != nil && cb.att.reached}
	}
	return w
}

// callbackReady reports whether the callback c may be offered (or, caller
// first, handed over) now: within an attempt, unless its customer is being
// called; without one, when something places the calls and its next
// attempt is due. A request not yet due has the router match again then.
func (q *Queues) callbackReady(c *contact, now time.Time) bool {
	cb := c.cb
	if cb.att != nil {
		return !cb.att.dialling
	}
	if q.onAttempt == nil {
		return false
	}
	if cb.next.After(now) {
		q.scheduleRetry(cb.next, now)
		return false
	}
	return true
}

// assignable says why a callback cannot be offered to a chosen agent now
// (Assign), or nil: a caller-first request goes to an agent only once its
// customer answered, and every request needs something to place its calls.
// A supervisor may offer a request before its next attempt is due.
func (q *Queues) assignable(c *contact) error {
	cb := c.cb
	switch {
	case cb == nil:
		return nil
	case q.closed:
		return fmt.Errorf("%w: ivrd is stopping", ErrCallbackState)
	case q.onAttempt == nil:
		return fmt.Errorf("%w: nothing places callbacks in this ivrd", ErrCallbackState)
	case cb.att != nil && cb.att.dialling:
		return fmt.Errorf("%w: the customer is being called; the request goes to an agent once reached", ErrCallbackState)
	case cb.att == nil && cb.mode == ivr.CallbackCallerFirst:
		return fmt.Errorf("%w: a caller-first callback goes to an agent once the customer is reached", ErrCallbackState)
	}
	return nil
}

// startAttempt starts an attempt of the callback c: a CallbackWaiting of
// its own, handed to the handler in a goroutine once the rows are written.
// The caller sends its first event (the offer, or the turn) before the
// router's mutex is released, so that the handler finds it there.
func (q *Queues) startAttempt(c *contact, now time.Time, fx *effects) {
	cb := c.cb
	cb.attempts++
	cb.state, cb.next = ivr.CallbackActive, time.Time{}
	cw := &cbWaiting{waiting: waiting{q: q, c: c, events: make(chan ivr.QueueEvent, eventBuffer)}}
	att := &cbAttempt{n: cb.attempts, w: cw}
	cw.att, cb.att, c.w = att, att, &cw.waiting
	fx.exec(`INSERT INTO callback_attempts (callback_id, attempt, started_at) VALUES (?, ?, ?)`,
		c.id, att.n, store.FormatTime(now))
	fx.exec(`UPDATE callbacks SET state = 'active', attempts = ?, next_attempt = NULL WHERE id = ?`, cb.attempts, c.id)
	a := ivr.CallbackAttempt{Callback: c.callback(), Attempt: att.n, Waiting: cw}
	h, ctx := q.onAttempt, q.attemptCtx
	q.attempts.Add(1)
	fx.starts = append(fx.starts, func() {
		go func() {
			defer q.attempts.Done()
			q.runAttempt(ctx, h, a)
			q.attemptReturned(cw)
		}()
	})
	q.log.Info("callback attempt started", "contact_id", c.id, "queue", c.info.Queue, "attempt", att.n, "mode", cb.mode)
	q.changed()
}

// runAttempt runs the handler; a panic ends the attempt, not ivrd.
func (q *Queues) runAttempt(ctx context.Context, h func(context.Context, ivr.CallbackAttempt), a ivr.CallbackAttempt) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("callback attempt handler failed", "contact_id", a.Callback.ID, "attempt", a.Attempt,
				"err", fmt.Errorf("panic: %v", r))
		}
	}()
	h(ctx, a)
}

// attemptReturned ends an attempt its handler left open: a conversation
// with the customer is over (completed); anything else failed and is
// tried again after the retry delay. At Close, the attempt was
// interrupted.
func (q *Queues) attemptReturned(w *cbWaiting) {
	_ = q.do(context.Background(), func(now time.Time, fx *effects) error {
		c := w.c
		if !w.current() {
			return nil
		}
		if !q.closed {
			q.log.Warn("callback attempt handler returned with its attempt open; ending it",
				"contact_id", c.id, "attempt", w.att.n, "reached", w.att.reached)
		}
		if o := c.offer; o != nil {
			q.withdraw(o, now, fx, withdrawal{reason: "callback attempt over"})
		}
		if c.state == contactConnected {
			if w.att.reached && !q.closed {
				q.end(c, ivr.EndedByIVRD, now, fx)
				q.completeAttempt(c, now, fx)
				return nil
			}
			q.release(c, now, fx)
		}
		q.closeAttempt(c, ivr.CallbackError, now.Add(c.cb.retryDelay), now, fx)
		q.match(now, fx)
		return nil
	})
}

// waitAttempts waits, up to attemptDrain, for the attempts' handlers to
// return once Close cancelled them.
func (q *Queues) waitAttempts() {
	done := make(chan struct{})
	go func() {
		q.attempts.Wait()
		close(done)
	}()
	t := time.NewTimer(attemptDrain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		q.log.Warn("callback attempts still running at close; the next start recovers them as interrupted")
	}
}

// turn hands the caller-first callback c over to the engine, which calls
// the customer: EventTurn, no agent held.
func (q *Queues) turn(c *contact, now time.Time, fx *effects) {
	q.startAttempt(c, now, fx)
	c.cb.att.dialling = true
	if !c.w.send(ivr.QueueEvent{Kind: ivr.EventTurn}) {
		q.log.Warn("callback attempt not reading its queue events", "contact_id", c.id)
	}
	q.log.Info("callback's turn: the customer is called first", "contact_id", c.id, "queue", c.info.Queue)
}

// callbackConnected records the agent who took the callback c.
func (q *Queues) callbackConnected(c *contact, now time.Time, fx *effects) {
	if att := c.cb.att; att != nil {
		fx.exec(`UPDATE callback_attempts SET agent = ? WHERE callback_id = ? AND attempt = ?`, c.agent.name, c.id, att.n)
	}
}

// resetContact puts a callback's contact row back to waiting: its agent
// never reached the customer.
const resetContact = `UPDATE contacts SET state = 'waiting', reason = '', agent = '', left_at = NULL,
	wait_ms = NULL, connected_at = NULL, ended_at = NULL, talk_ms = NULL, ended_by = '' WHERE id = ?`

// release frees the agent connected to the callback c for an attempt
// that did not reach the customer: no wrap-up, the agent's leg hung up.
// c waits again (unlisted: closeAttempt decides).
func (q *Queues) release(c *contact, now time.Time, fx *effects) {
	a := c.agent
	view := q.contactView(c, now)
	delete(a.contacts, c.id)
	a.load[c.channel()]--
	if c.leg != nil {
		fx.hangup(c.leg, "customer not reached")
	}
	c.state, c.agent, c.connectedAt, c.leg = contactWaiting, nil, time.Time{}, nil
	fx.exec(resetContact, c.id)
	q.notify(a, now, fx, &AgentEvent{Type: "ended", Contact: &view, Reason: ReasonNotReached}, c.id,
		"callback: customer not reached")
	q.log.Info("agent released: callback customer not reached", "agent", a.name, "contact_id", c.id)
	q.changed()
}

// ReasonNotReached is the reason of the desk's "ended" event when the
// customer of a callback the agent took was not reached.
const ReasonNotReached = "not_reached"

// relist puts c back in the serving order at its place.
func (q *Queues) relist(c *contact) {
	if slices.Contains(q.order, c) {
		return
	}
	i := sort.Search(len(q.order), func(i int) bool { return c.before(q.order[i]) })
	q.order = slices.Insert(q.order, i, c)
	q.changed()
}

// closeAttempt ends the attempt in progress of c without a conversation
// with the customer: result is recorded, and the request waits for its
// next attempt from retryAt at its place, or is over (failed, or cancelled
// when asked during the attempt) when retryAt is zero or its attempts are
// used up. At Close the attempt is interrupted and the request due again
// at once. c has no offer and no agent.
func (q *Queues) closeAttempt(c *contact, result string, retryAt, now time.Time, fx *effects) {
	cb := c.cb
	att := cb.att
	cb.att, c.w = nil, nil
	final := retryAt.IsZero() || cb.attempts >= cb.maxAttempts || cb.cancel != ""
	if q.closed {
		result, retryAt, final = ResultInterrupted, now, cb.cancel != ""
	}
	cb.lastResult = result
	fx.exec(`UPDATE callback_attempts SET ended_at = ?, result = ? WHERE callback_id = ? AND attempt = ?`,
		store.FormatTime(now), result, c.id, att.n)
	if !final {
		cb.state, cb.next = ivr.CallbackPending, retryAt
		c.state = contactWaiting
		q.contacts[c.id] = c
		q.relist(c)
		fx.exec(`UPDATE callbacks SET state = 'pending', next_attempt = ?, last_result = ? WHERE id = ?`,
			store.FormatTime(retryAt), result, c.id)
		q.log.Info("callback attempt failed; another follows", "contact_id", c.id, "attempt", att.n,
			"result", result, "next_attempt", retryAt)
		return
	}
	state := ivr.CallbackFailed
	if cb.cancel != "" {
		state = ivr.CallbackCancelled
	}
	cb.state, cb.next = state, time.Time{}
	fx.exec(`UPDATE callbacks SET state = ?, next_attempt = NULL, last_result = ?, completed_at = ? WHERE id = ?`,
		state, result, store.FormatTime(now), c.id)
	c.state = contactWaiting
	q.leave(c, StateClosed, "callback "+state+": "+result, now, fx)
	q.log.Info("callback request over", "contact_id", c.id, "state", state, "attempts", cb.attempts, "result", result)
}

// completeAttempt records that the customer of c talked to an agent: the
// request is completed. The conversation is already ended (q.end); its
// agent was connected at c.connectedAt, the end of the time to callback.
func (q *Queues) completeAttempt(c *contact, now time.Time, fx *effects) {
	cb := c.cb
	att := cb.att
	cb.att = nil
	cb.state, cb.next, cb.lastResult = ivr.CallbackCompleted, time.Time{}, ResultCompleted
	at := store.FormatTime(now)
	fx.exec(`UPDATE callback_attempts SET ended_at = ?, result = ? WHERE callback_id = ? AND attempt = ?`,
		at, ResultCompleted, c.id, att.n)
	fx.exec(`UPDATE callbacks SET state = 'completed', next_attempt = NULL, last_result = ?, completed_at = ?,
		connected_at = ? WHERE id = ?`, ResultCompleted, at, store.FormatTime(c.connectedAt), c.id)
	q.log.Info("callback completed", "contact_id", c.id, "attempt", att.n, "reached", att.reached)
}

// current reports whether w's attempt is its request's attempt in
// progress.
func (w *cbWaiting) current() bool {
	return w.c.cb != nil && w.c.cb.att == w.att && w.c.state != contactGone
}

// Reached records that the customer answered the call callID: the call is
// stored with the attempt and the contact (an agent who takes the request
// reaches that call's recordings). A caller-first request is then offered
// to the agents.
func (w *cbWaiting) Reached(ctx context.Context, callID string) error {
	if len(callID) > MaxFieldLen {
		return fmt.Errorf("callback reached: %w: call id longer than %d bytes", ErrInvalidContact, MaxFieldLen)
	}
	err := w.q.do(ctx, func(now time.Time, fx *effects) error {
		c := w.c
		if !w.current() {
			return fmt.Errorf("%w: attempt %d is over", ErrCallbackState, w.att.n)
		}
		att := w.att
		att.reached, att.dialling, att.callID = true, false, callID
		c.info.CallID = callID
		fx.exec(`UPDATE callback_attempts SET call_id = ? WHERE callback_id = ? AND attempt = ?`, callID, c.id, att.n)
		fx.exec(`UPDATE contacts SET call_id = ? WHERE id = ?`, callID, c.id)
		w.q.log.Info("callback customer reached", "contact_id", c.id, "attempt", att.n, "call_id", callID)
		w.q.changed()
		w.q.match(now, fx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("callback reached: %w", err)
	}
	return nil
}

// Failed ends the attempt: the customer was not reached (result). An offer
// pending is withdrawn, an agent connected for it is released without
// wrap-up and its leg hung up; the request waits for retryAt, or fails
// when retryAt is zero or its attempts are used up. Failing an attempt
// that is over does nothing.
func (w *cbWaiting) Failed(ctx context.Context, result string, retryAt time.Time) error {
	if result == "" {
		result = ivr.CallbackError
	}
	if len(result) > MaxNameLen {
		result = result[:MaxNameLen]
	}
	return w.q.do(ctx, func(now time.Time, fx *effects) error {
		c := w.c
		if !w.current() {
			return nil
		}
		if o := c.offer; o != nil {
			w.q.withdraw(o, now, fx, withdrawal{reason: "customer not reached"})
		}
		if c.state == contactConnected {
			w.q.release(c, now, fx)
		}
		w.q.closeAttempt(c, result, retryAt, now, fx)
		w.q.match(now, fx)
		return nil
	})
}

// Leave ends the attempt without an agent: the customer hung up while
// waiting for one (caller-first, "abandoned"), or waited too long
// ("timeout"). The request fails with that result; no attempt follows.
// After Answer it does nothing.
func (w *cbWaiting) Leave(ctx context.Context, reason string) error {
	if reason == "" {
		reason = StateAbandoned
	}
	if len(reason) > MaxNameLen {
		reason = reason[:MaxNameLen]
	}
	return w.q.do(ctx, func(now time.Time, fx *effects) error {
		c := w.c
		if !w.current() || c.state != contactWaiting {
			return nil
		}
		if o := c.offer; o != nil {
			why := leaveWhy[reason]
			if why == "" {
				why = "caller hung up"
			}
			w.q.withdraw(o, now, fx, withdrawal{reason: why})
		}
		w.q.closeAttempt(c, reason, time.Time{}, now, fx)
		w.q.match(now, fx)
		return nil
	})
}

// End ends the conversation with the agent: the request is completed and
// the agent wraps up. The engine reports an attempt that did not reach the
// customer with Failed, so End means the customer talked to the agent,
// whether Reached was reported (caller-first) or not.
func (w *cbWaiting) End(ctx context.Context, by string) error {
	return w.q.do(ctx, func(now time.Time, fx *effects) error {
		c := w.c
		if !w.current() || c.state != contactConnected {
			return nil
		}
		w.q.end(c, by, now, fx)
		w.q.completeAttempt(c, now, fx)
		return nil
	})
}

// recoverCallbacks puts back the requests whose attempt a previous run
// was making: the attempt counts, ended as interrupted, and the request is
// pending and due at now, or cancelled when that was asked during the
// attempt. It returns how many. notMine and mine leave this run's alone.
func recoverCallbacks(ctx context.Context, tx *sql.Tx, now, notMine string, mine []any) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, cancel_reason FROM callbacks WHERE state = 'active'`+notMine, mine...)
	if err != nil {
		return 0, fmt.Errorf("read active callbacks: %w", err)
	}
	type active struct{ id, cancel string }
	var all []active
	for rows.Next() {
		var a active
		if err := rows.Scan(&a.id, &a.cancel); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read active callbacks: %w", err)
		}
		all = append(all, a)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	for _, a := range all {
		if _, err := tx.ExecContext(ctx, `UPDATE callback_attempts SET ended_at = ?, result = ?
			WHERE callback_id = ? AND ended_at IS NULL`, now, ResultInterrupted, a.id); err != nil {
			return 0, fmt.Errorf("recover callback %s: %w", a.id, err)
		}
		if _, err := tx.ExecContext(ctx, resetContact, a.id); err != nil {
			return 0, fmt.Errorf("recover callback %s: %w", a.id, err)
		}
		if a.cancel != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET state = 'cancelled', next_attempt = NULL,
				last_result = ?, completed_at = ? WHERE id = ?`, ResultInterrupted, now, a.id); err != nil {
				return 0, fmt.Errorf("recover callback %s: %w", a.id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE contacts SET state = 'closed', reason = ?, left_at = ? WHERE id = ?`,
				"callback cancelled: "+a.cancel, now, a.id); err != nil {
				return 0, fmt.Errorf("recover callback %s: %w", a.id, err)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET state = 'pending', next_attempt = ?, last_result = ?
			WHERE id = ?`, now, ResultInterrupted, a.id); err != nil {
			return 0, fmt.Errorf("recover callback %s: %w", a.id, err)
		}
	}
	return int64(len(all)), nil
}

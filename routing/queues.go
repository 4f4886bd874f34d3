// Package routing is ivrd's shared omnichannel queue: calls qualified by an
// IVR flow, and chats or emails posted through the API, wait in named queues
// ordered by priority and then by arrival, with the context an agent needs.
//
// Contacts are rows of the store's contacts table, so the queue survives
// restarts and the API can list it from any process. The one thing that
// cannot be stored is a live call's wait, so Queues also keeps, in memory,
// the Waiting of each call it enqueued, to wake it when an agent takes it.
package routing

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

// SummaryWindow is how far back Summary counts contacts that left.
const SummaryWindow = 24 * time.Hour

// leaveTimeout bounds the write of Leave, which runs even when the caller's
// context is already cancelled (the caller hung up: that is why it leaves).
const leaveTimeout = 5 * time.Second

// Queues is the set of queues, kept in a store DB. It implements ivr.Queue.
type Queues struct {
	db  *store.DB
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	waiting map[string]*waiting // contacts enqueued by this process, by id
}

var _ ivr.Queue = (*Queues)(nil)

// New returns the queues kept in db.
func New(db *store.DB, opts ...Option) *Queues {
	q := &Queues{
		db:      db,
		now:     time.Now,
		log:     slog.Default(),
		waiting: make(map[string]*waiting),
	}
	for _, opt := range opts {
		opt(q)
	}
	return q
}

// Enqueue puts a call's contact in its queue. The channel defaults to voice.
// The returned Waiting's Connected channel is closed by Connect.
func (q *Queues) Enqueue(ctx context.Context, c ivr.Contact) (ivr.Waiting, error) {
	if c.Channel == "" {
		c.Channel = ChannelVoice
	}
	if c.ID == "" {
		c.ID = newID()
	}
	if c.EnqueuedAt.IsZero() {
		c.EnqueuedAt = q.now()
	}
	if err := Validate(&c); err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	w := &waiting{q: q, id: c.ID, connected: make(chan struct{})}
	// Registered before the insert, so a Connect that races with it still
	// finds the Waiting to wake.
	q.mu.Lock()
	if _, dup := q.waiting[c.ID]; dup {
		q.mu.Unlock()
		return nil, fmt.Errorf("enqueue: %w: contact %s already waiting", ErrInvalidContact, c.ID)
	}
	q.waiting[c.ID] = w
	q.mu.Unlock()
	if err := q.insert(ctx, &c); err != nil {
		q.forget(c.ID)
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	q.log.InfoContext(ctx, "contact enqueued", "contact_id", c.ID, "queue", c.Queue,
		"channel", c.Channel, "call_id", c.CallID, "priority", c.Priority)
	return w, nil
}

// Post puts a contact that is not a live call (a chat, an email) in its
// queue. It waits until Connect or Remove; it returns the contact's id.
func (q *Queues) Post(ctx context.Context, c ivr.Contact) (string, error) {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.EnqueuedAt.IsZero() {
		c.EnqueuedAt = q.now()
	}
	if err := Validate(&c); err != nil {
		return "", fmt.Errorf("post contact: %w", err)
	}
	if err := q.insert(ctx, &c); err != nil {
		return "", fmt.Errorf("post contact: %w", err)
	}
	q.log.InfoContext(ctx, "contact posted", "contact_id", c.ID, "queue", c.Queue, "channel", c.Channel)
	return c.ID, nil
}

func (q *Queues) insert(ctx context.Context, c *ivr.Contact) error {
	skills := c.Skills
	if skills == nil {
		skills = []string{}
	}
	sk, err := json.Marshal(skills)
	if err != nil {
		return fmt.Errorf("encode skills: %w", err)
	}
	vars, err := store.MarshalVars(c.Vars)
	if err != nil {
		return err
	}
	return q.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO contacts (id, channel, queue, call_id, caller, dialled, language,
				intent, priority, skills, vars, flow, flow_version, state, enqueued_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?)`,
			c.ID, c.Channel, c.Queue, c.CallID, c.Caller, c.Dialled, c.Language,
			c.Intent, c.Priority, string(sk), vars, c.Flow, c.FlowVersion,
			store.FormatTime(c.EnqueuedAt))
		if err != nil {
			return fmt.Errorf("insert contact %s: %w", c.ID, err)
		}
		return nil
	})
}

// Connect records that agent took the contact and wakes its Waiting. The
// agent is stored with the contact: it is what gives an agent access to the
// recordings of its own calls, and to no others. Connect fails with
// ErrInvalidContact for an empty or overlong agent name, ErrNotWaiting when
// the contact already left (the caller hung up first), and
// store.ErrNotFound for an unknown id.
func (q *Queues) Connect(ctx context.Context, id, agent string) error {
	if agent == "" || len(agent) > MaxFieldLen {
		return fmt.Errorf("connect contact %s: %w: agent name wants 1 to %d bytes", id, ErrInvalidContact, MaxFieldLen)
	}
	if _, err := q.finish(ctx, id, StateConnected, StateConnected, agent, true); err != nil {
		return fmt.Errorf("connect contact %s: %w", id, err)
	}
	if w := q.forget(id); w != nil {
		w.once.Do(func() { close(w.connected) })
	}
	q.log.InfoContext(ctx, "contact connected", "contact_id", id, "agent", agent)
	return nil
}

// Remove takes a waiting contact out of its queue without an agent; reason
// is one of the states abandoned, timeout or closed. It fails with
// ErrNotWaiting when the contact already left.
func (q *Queues) Remove(ctx context.Context, id, reason string) error {
	state, ok := leaveState(reason)
	if !ok || state == StateConnected {
		return fmt.Errorf("remove contact %s: unknown reason %q", id, reason)
	}
	if _, err := q.finish(ctx, id, state, reason, "", true); err != nil {
		return fmt.Errorf("remove contact %s: %w", id, err)
	}
	q.forget(id)
	return nil
}

// leaveState maps a reason of ivr.Waiting.Leave to a state.
func leaveState(reason string) (string, bool) {
	switch reason {
	case StateAbandoned, StateTimeout, StateConnected, StateClosed:
		return reason, true
	}
	return "", false
}

// finish moves a waiting contact to state, taken by agent ("" when no agent
// took it). The check and the update share one write transaction, so when
// Connect and a hang-up race exactly one of them wins. When strict is false,
// a contact that already left is not an error and finish reports false.
func (q *Queues) finish(ctx context.Context, id, state, reason, agent string, strict bool) (bool, error) {
	now := q.now()
	done := false
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		var cur, enq string
		err := tx.QueryRowContext(ctx, `SELECT state, enqueued_at FROM contacts WHERE id = ?`, id).Scan(&cur, &enq)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur != StateWaiting {
			if strict {
				return fmt.Errorf("%w: it is %s", ErrNotWaiting, cur)
			}
			return nil
		}
		t, err := store.ParseTime(enq)
		if err != nil {
			return err
		}
		wait := max(now.Sub(t), 0)
		if _, err := tx.ExecContext(ctx,
			`UPDATE contacts SET state = ?, reason = ?, left_at = ?, wait_ms = ?, agent = ? WHERE id = ?`,
			state, reason, store.FormatTime(now), wait.Milliseconds(), agent, id); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

// forget drops the in-memory Waiting of id, returning it.
func (q *Queues) forget(id string) *waiting {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.waiting[id]
	delete(q.waiting, id)
	return w
}

// RestartReason is the reason recorded on calls Recover abandons.
const RestartReason = "ivrd restarted"

// Recover marks abandoned the live calls (voice, webrtc) a previous run left
// waiting: the process that held them is gone, so are the calls. Their wait
// is unknown and left null. Chats and emails keep waiting. Call it at start,
// before Enqueue; it returns how many contacts it abandoned.
func (q *Queues) Recover(ctx context.Context) (int, error) {
	now := store.FormatTime(q.now())
	q.mu.Lock()
	live := make([]any, 0, len(q.waiting)+3)
	for id := range q.waiting {
		live = append(live, id)
	}
	q.mu.Unlock()
	query := `UPDATE contacts SET state = 'abandoned', reason = ?, left_at = ?
		WHERE state = 'waiting' AND channel IN ('voice', 'webrtc')`
	args := []any{RestartReason, now}
	if len(live) > 0 {
		// Contacts of this process are alive; never abandon them.
		query += ` AND id NOT IN (?` + strings.Repeat(", ?", len(live)-1) + `)`
		args = append(args, live...)
	}
	var n int64
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recover queues: %w", err)
	}
	if n > 0 {
		q.log.WarnContext(ctx, "abandoned calls left waiting by a previous run", "count", n)
	}
	return int(n), nil
}

const contactColumns = `id, channel, queue, call_id, caller, dialled, language,
	intent, priority, skills, vars, flow, flow_version, enqueued_at`

// List returns the contacts waiting in queue (all queues when empty), first
// to be served first: by priority, highest first, then by arrival.
func (q *Queues) List(ctx context.Context, queue string) ([]WaitingContact, error) {
	query := `SELECT ` + contactColumns + ` FROM contacts WHERE state = 'waiting'`
	var args []any
	if queue != "" {
		query += ` AND queue = ?`
		args = append(args, queue)
	}
	query += ` ORDER BY priority DESC, enqueued_at ASC, id ASC`
	rows, err := q.db.Reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list queue %q: %w", queue, err)
	}
	defer rows.Close()
	now := q.now()
	out := []WaitingContact{}
	for rows.Next() {
		var (
			c           WaitingContact
			sk, vs, enq string
		)
		if err := rows.Scan(&c.ID, &c.Channel, &c.Queue, &c.CallID, &c.Caller, &c.Dialled,
			&c.Language, &c.Intent, &c.Priority, &sk, &vs, &c.Flow, &c.FlowVersion, &enq); err != nil {
			return nil, fmt.Errorf("list queue %q: %w", queue, err)
		}
		if err := json.Unmarshal([]byte(sk), &c.Skills); err != nil {
			return nil, fmt.Errorf("list queue %q: decode skills of %s: %w", queue, c.ID, err)
		}
		if c.Vars, err = store.UnmarshalVars(vs); err != nil {
			return nil, fmt.Errorf("list queue %q: contact %s: %w", queue, c.ID, err)
		}
		if c.EnqueuedAt, err = store.ParseTime(enq); err != nil {
			return nil, fmt.Errorf("list queue %q: contact %s: %w", queue, c.ID, err)
		}
		c.Wait = max(now.Sub(c.EnqueuedAt), 0)
		c.WaitSeconds = seconds(c.Wait)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list queue %q: %w", queue, err)
	}
	return out, nil
}

// Summary returns every queue that has contacts waiting or had contacts
// leave during the last SummaryWindow, by name.
func (q *Queues) Summary(ctx context.Context) ([]QueueSummary, error) {
	now := q.now()
	byName := map[string]*QueueSummary{}
	get := func(name string) *QueueSummary {
		s := byName[name]
		if s == nil {
			s = &QueueSummary{Name: name, Channels: map[string]int{}, Window: SummaryWindow.String()}
			byName[name] = s
		}
		return s
	}
	r := q.db.Reader()

	rows, err := r.QueryContext(ctx, `SELECT queue, channel, count(*), min(enqueued_at)
		FROM contacts WHERE state = 'waiting' GROUP BY queue, channel`)
	if err != nil {
		return nil, fmt.Errorf("summarise queues: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name, ch, oldest string
			n                int
		)
		if err := rows.Scan(&name, &ch, &n, &oldest); err != nil {
			return nil, fmt.Errorf("summarise queues: %w", err)
		}
		t, err := store.ParseTime(oldest)
		if err != nil {
			return nil, fmt.Errorf("summarise queues: %w", err)
		}
		s := get(name)
		s.Waiting += n
		s.Channels[ch] = n
		s.OldestWait = max(s.OldestWait, now.Sub(t))
		s.OldestWaitSeconds = seconds(s.OldestWait)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarise queues: %w", err)
	}
	rows.Close()

	rows, err = r.QueryContext(ctx, `SELECT queue, state, count(*), coalesce(avg(wait_ms), 0)
		FROM contacts WHERE state <> 'waiting' AND left_at >= ? GROUP BY queue, state`,
		store.FormatTime(now.Add(-SummaryWindow)))
	if err != nil {
		return nil, fmt.Errorf("summarise queues: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name, state string
			n           int
			avgMS       float64
		)
		if err := rows.Scan(&name, &state, &n, &avgMS); err != nil {
			return nil, fmt.Errorf("summarise queues: %w", err)
		}
		s := get(name)
		switch state {
		case StateConnected:
			s.Connected = n
			s.AvgWaitSeconds = float64(int64(avgMS)) / 1000
		case StateAbandoned:
			s.Abandoned = n
		case StateTimeout:
			s.TimedOut = n
		case StateClosed:
			s.Closed = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarise queues: %w", err)
	}

	out := make([]QueueSummary, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// waiting is a call's place in a queue.
type waiting struct {
	q         *Queues
	id        string
	connected chan struct{}
	once      sync.Once
}

func (w *waiting) ContactID() string          { return w.id }
func (w *waiting) Connected() <-chan struct{} { return w.connected }

// Leave records how the contact left. Only the first transition out of
// waiting counts: after Connect, Leave("connected") or a later hang-up
// change nothing, which makes Leave idempotent. An unknown reason is
// recorded as abandoned, keeping the reason text. The write outlives ctx:
// the caller's context is typically cancelled by the very hang-up that makes
// it leave.
func (w *waiting) Leave(ctx context.Context, reason string) error {
	defer w.q.forget(w.id)
	state, ok := leaveState(reason)
	if !ok {
		state = StateAbandoned
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
	defer cancel()
	left, err := w.q.finish(ctx, w.id, state, reason, "", false)
	if err != nil {
		return fmt.Errorf("leave queue: contact %s: %w", w.id, err)
	}
	if left {
		w.q.log.InfoContext(ctx, "contact left queue", "contact_id", w.id, "reason", reason)
	}
	return nil
}

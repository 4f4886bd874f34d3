// Package routing is ivrd's automatic call distributor: calls qualified by
// an IVR flow, and chats or emails posted through the API, wait in named
// queues and are offered, one at a time, to the agents qualified for them.
//
// Contacts are served in one order across all queues, highest priority
// first, then longest waiting; each goes to the qualified free agent idle
// the longest. The agent takes the offer (answers the phone, or accepts in
// the desk), rejects it or lets it ring out, and the contact is offered to
// the next agent. After each conversation the agent wraps up, then is
// available again. See README.md for the rules.
//
// Agents, offers and waiting contacts live in memory: the router decides
// there, under one mutex, and never waits on a channel or the database
// while holding it. Every contact and every agent state change is also a
// row of the store (contacts, agent_events): the record that survives
// restarts, and where statistics are computed.
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

// writeTimeout bounds the database writes that record what the router
// decided. They run even when the caller's context is already cancelled:
// a caller who hangs up is the very reason a contact leaves.
const writeTimeout = 5 * time.Second

// Queues is the set of queues and the agents who serve them. It
// implements ivr.Queue.
type Queues struct {
	db    *store.DB
	clock Clock
	log   *slog.Logger
	cfg   Config

	mu       sync.Mutex
	agents   map[string]*agent
	names    []string            // agent names, sorted: the tie-break among agents idle as long
	contacts map[string]*contact // waiting or in conversation, by id
	order    []*contact          // waiting, in serving order
	seq      uint64
	handle   map[string]*handleTimes // recent handle times, by queue
	watchers map[chan struct{}]struct{}
	retryAt  time.Time
	retry    func() bool // stops the pending retry timer
	closed   bool

	// Callback attempts: the engine's handler, and the context of the
	// goroutines that run it, cancelled by Close.
	onAttempt  func(ctx context.Context, a ivr.CallbackAttempt)
	attemptCtx context.Context
	stopAll    context.CancelFunc
	attempts   sync.WaitGroup
	noHandler  bool // warned that callbacks wait for a handler
}

var _ ivr.Queue = (*Queues)(nil)

// New returns the queues kept in db, with the agents of the configuration
// (WithConfig), all signed out.
func New(db *store.DB, opts ...Option) (*Queues, error) {
	if db == nil {
		return nil, errors.New("new queues: nil database")
	}
	actx, stop := context.WithCancel(context.Background())
	q := &Queues{
		attemptCtx: actx,
		stopAll:    stop,
		db:         db,
		clock:      systemClock{},
		log:        slog.Default(),
		cfg:        DefaultConfig(),
		agents:     map[string]*agent{},
		contacts:   map[string]*contact{},
		handle:     map[string]*handleTimes{},
		watchers:   map[chan struct{}]struct{}{},
	}
	for _, opt := range opts {
		if err := opt(q); err != nil {
			stop()
			return nil, fmt.Errorf("new queues: %w", err)
		}
	}
	now := q.clock.Now()
	for _, ac := range q.cfg.Agents {
		a := newAgent(ac, q.cfg.WrapUp, now)
		q.agents[a.name] = a
		q.names = append(q.names, a.name)
	}
	sort.Strings(q.names)
	return q, nil
}

// Close stops the router's timers and ends every desk subscription and
// watch; call it at shutdown, once calls are over. The callback attempts
// in progress have their context cancelled, and Close waits for their
// handlers up to attemptDrain: an attempt cut short is recorded as
// interrupted, its request due again at the next start.
func (q *Queues) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.stopAll()
	q.closeLocked()
	q.mu.Unlock()
	q.waitAttempts()
}

// closeLocked stops the timers and ends the subscriptions; the mutex is
// held.
func (q *Queues) closeLocked() {
	if q.retry != nil {
		q.retry()
		q.retry = nil
	}
	for _, c := range q.contacts {
		if c.offer != nil && c.offer.stop != nil {
			c.offer.stop()
		}
	}
	for _, a := range q.agents {
		if a.wrapStop != nil {
			a.wrapStop()
			a.wrapStop = nil
		}
		for ch := range a.subs {
			close(ch)
			delete(a.subs, ch)
		}
	}
	for ch := range q.watchers {
		close(ch)
		delete(q.watchers, ch)
	}
}

// Enqueue puts a call's contact in its queue, where it is offered to the
// agents. The channel defaults to voice.
func (q *Queues) Enqueue(ctx context.Context, c ivr.Contact) (ivr.Waiting, error) {
	if c.Channel == "" {
		c.Channel = ChannelVoice
	}
	if !liveChannels[c.Channel] {
		return nil, fmt.Errorf("enqueue: %w: channel %s is not a call (post it instead)", ErrInvalidContact, c.Channel)
	}
	ct, err := q.add(ctx, c, true)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	q.log.InfoContext(ctx, "contact enqueued", "contact_id", ct.id, "queue", c.Queue,
		"channel", c.Channel, "call_id", c.CallID, "priority", c.Priority)
	return ct.w, nil
}

// Post puts a contact that is not a live call (a chat, an email) in its
// queue, where it is offered to the agents like calls are, in the same
// order. It waits until an agent takes it or Remove; Post returns its id.
func (q *Queues) Post(ctx context.Context, c ivr.Contact) (string, error) {
	if liveChannels[c.Channel] {
		return "", fmt.Errorf("post contact: %w: a %s call joins a queue through its flow", ErrInvalidContact, c.Channel)
	}
	if c.Channel == ChannelCallback {
		return "", fmt.Errorf("post contact: %w: a callback is requested through a flow's callback node", ErrInvalidContact)
	}
	ct, err := q.add(ctx, c, false)
	if err != nil {
		return "", fmt.Errorf("post contact: %w", err)
	}
	q.log.InfoContext(ctx, "contact posted", "contact_id", ct.id, "queue", c.Queue, "channel", c.Channel)
	return ct.id, nil
}

// add stores a new contact, then lets the router offer it.
func (q *Queues) add(ctx context.Context, c ivr.Contact, live bool) (*contact, error) {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.EnqueuedAt.IsZero() {
		c.EnqueuedAt = q.clock.Now()
	}
	if err := Validate(&c); err != nil {
		return nil, err
	}
	ct := newContact(c)
	if live {
		ct.w = &waiting{q: q, c: ct, events: make(chan ivr.QueueEvent, eventBuffer)}
	}
	// Known before it is stored, so that a concurrent Recover leaves its
	// row alone; offered only once stored.
	q.mu.Lock()
	_, dup := q.contacts[c.ID]
	if !dup {
		q.contacts[c.ID] = ct
	}
	q.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("%w: contact %s already waiting", ErrInvalidContact, c.ID)
	}
	if err := q.insert(ctx, &c); err != nil {
		q.mu.Lock()
		delete(q.contacts, c.ID)
		q.mu.Unlock()
		return nil, err
	}
	_ = q.do(ctx, func(now time.Time, fx *effects) error {
		q.list(ct)
		q.match(now, fx)
		return nil
	})
	return ct, nil
}

func (q *Queues) insert(ctx context.Context, c *ivr.Contact) error {
	return q.db.Write(ctx, func(tx *sql.Tx) error { return insertContact(ctx, tx, c) })
}

// insertContact writes the row of a new waiting contact.
func insertContact(ctx context.Context, tx *sql.Tx, c *ivr.Contact) error {
	skills := c.Skills
	if skills == nil {
		skills = []string{}
	}
	sk, err := json.Marshal(skills)
	if err != nil {
		return fmt.Errorf("encode skills: %w", err)
	}
	path := c.Path
	if path == nil {
		path = []string{}
	}
	pj, err := json.Marshal(path)
	if err != nil {
		return fmt.Errorf("encode path: %w", err)
	}
	vars, err := store.MarshalVars(c.Vars)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO contacts (id, channel, queue, call_id, caller, dialled, language,
			intent, priority, skills, vars, path, flow, flow_version, state, enqueued_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?)`,
		c.ID, c.Channel, c.Queue, c.CallID, c.Caller, c.Dialled, c.Language,
		c.Intent, c.Priority, string(sk), vars, string(pj), c.Flow, c.FlowVersion,
		store.FormatTime(c.EnqueuedAt))
	if err != nil {
		return fmt.Errorf("insert contact %s: %w", c.ID, err)
	}
	return nil
}

// Remove takes a waiting chat or email out of its queue without an agent;
// reason is one of the states abandoned, timeout or closed. It fails with
// ErrNotWaiting when the contact already left, store.ErrNotFound for an
// unknown id and ErrInvalidContact for a live call: a call leaves when the
// caller hangs up or its flow stops waiting.
func (q *Queues) Remove(ctx context.Context, id, reason string) error {
	state, ok := leaveState(reason)
	if !ok || state == StateConnected || state == StateTransferred {
		return fmt.Errorf("remove contact %s: unknown reason %q", id, reason)
	}
	found := false
	err := q.do(ctx, func(now time.Time, fx *effects) error {
		c := q.contacts[id]
		if c == nil {
			return nil
		}
		found = true
		switch {
		case c.cb != nil:
			return fmt.Errorf("%w: a callback request is cancelled, not removed", ErrInvalidContact)
		case c.w != nil:
			return fmt.Errorf("%w: a waiting call leaves the queue when the caller hangs up", ErrInvalidContact)
		case c.state != contactWaiting:
			return fmt.Errorf("%w: it is %s", ErrNotWaiting, StateConnected)
		}
		if c.offer != nil {
			q.withdraw(c.offer, now, fx, withdrawal{reason: "contact " + reason})
		}
		q.leave(c, state, reason, now, fx)
		q.match(now, fx)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove contact %s: %w", id, err)
	}
	if !found {
		// Not in this router's memory: a contact of a run that has not
		// loaded it back yet. The store decides.
		if err := q.finish(ctx, id, state, reason); err != nil {
			return fmt.Errorf("remove contact %s: %w", id, err)
		}
	}
	return nil
}

// leaveState maps a reason of ivr.Waiting.Leave to a state.
func leaveState(reason string) (string, bool) {
	switch reason {
	case StateAbandoned, StateTimeout, StateConnected, StateClosed, StateTransferred:
		return reason, true
	}
	return "", false
}

// finish moves a waiting contact of the store that the router does not
// hold to state. The check and the update share one write transaction.
func (q *Queues) finish(ctx context.Context, id, state, reason string) error {
	now := q.clock.Now()
	return q.db.Write(ctx, func(tx *sql.Tx) error {
		var cur, enq, ch string
		err := tx.QueryRowContext(ctx, `SELECT state, enqueued_at, channel FROM contacts WHERE id = ?`, id).Scan(&cur, &enq, &ch)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if ch == ChannelCallback {
			return fmt.Errorf("%w: a callback request is cancelled, not removed", ErrInvalidContact)
		}
		if cur != StateWaiting {
			return fmt.Errorf("%w: it is %s", ErrNotWaiting, cur)
		}
		t, err := store.ParseTime(enq)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE contacts SET state = ?, reason = ?, left_at = ?, wait_ms = ? WHERE id = ?`,
			state, reason, store.FormatTime(now), max(now.Sub(t), 0).Milliseconds(), id)
		return err
	})
}

// RestartReason is the reason recorded on calls Recover abandons, and on
// conversations it ends.
const RestartReason = "ivrd restarted"

// Recover puts the queues back after a restart. The live calls (voice,
// webrtc) a previous run left waiting are marked abandoned: the process
// that held them is gone, so are the calls; their wait is unknown and left
// null. Conversations it left open are ended by ivrd, their talk time
// unknown. The chats and emails still waiting are loaded back, to be
// offered to the agents, and so are the pending callback requests: a
// request whose attempt the previous run was making counts that attempt
// as interrupted and is due again at once (cancelled instead, when its
// cancellation was asked during the attempt). Call it at start, after
// HandleCallbacks and before Enqueue; it returns how many calls it
// abandoned.
func (q *Queues) Recover(ctx context.Context) (int, error) {
	now := store.FormatTime(q.clock.Now())
	q.mu.Lock()
	mine := make([]any, 0, len(q.contacts))
	for id := range q.contacts {
		mine = append(mine, id)
	}
	q.mu.Unlock()
	notMine := ""
	if len(mine) > 0 {
		// Contacts of this process are alive; never touch them.
		notMine = ` AND id NOT IN (?` + strings.Repeat(", ?", len(mine)-1) + `)`
	}
	var n, interrupted int64
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		// Before the open conversations are ended below: a callback's
		// attempt goes back to its queue rather than ending there.
		var err error
		if interrupted, err = recoverCallbacks(ctx, tx, now, notMine, mine); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE contacts SET state = 'abandoned', reason = ?, left_at = ?
			WHERE state = 'waiting' AND channel IN ('voice', 'webrtc')`+notMine,
			append([]any{RestartReason, now}, mine...)...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE contacts SET ended_at = ?, ended_by = ?
			WHERE state = 'connected' AND ended_at IS NULL AND channel <> 'callback'`+notMine,
			append([]any{now, ivr.EndedByIVRD}, mine...)...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recover queues: %w", err)
	}
	if n > 0 {
		q.log.WarnContext(ctx, "abandoned calls left waiting by a previous run", "count", n)
	}
	if interrupted > 0 {
		q.log.WarnContext(ctx, "callback attempts interrupted by the end of a previous run", "count", interrupted)
	}
	waiting, err := q.waitingRows(ctx, "")
	if err != nil {
		return int(n), fmt.Errorf("recover queues: %w", err)
	}
	pending, err := q.callbackRows(ctx, q.db.Reader(), `cb.state = 'pending'`)
	if err != nil {
		return int(n), fmt.Errorf("recover queues: %w", err)
	}
	byID := make(map[string]*ivr.Callback, len(pending))
	for i := range pending {
		byID[pending[i].ID] = &pending[i].Callback
	}
	loaded := 0
	_ = q.do(ctx, func(now time.Time, fx *effects) error {
		for _, c := range waiting {
			if liveChannels[c.Channel] || q.contacts[c.ID] != nil {
				continue
			}
			ct := newContact(c)
			if c.Channel == ChannelCallback {
				cb := byID[c.ID]
				if cb == nil {
					q.log.WarnContext(ctx, "callback contact without a pending request left aside", "contact_id", c.ID)
					continue
				}
				ct.cb = newCallback(cb)
				ct.info.Record = cb.Contact.Record
			}
			q.list(ct)
			loaded++
		}
		q.match(now, fx)
		return nil
	})
	if loaded > 0 {
		q.log.InfoContext(ctx, "contacts waiting since a previous run are back in their queues", "count", loaded)
	}
	return int(n), nil
}

const contactColumns = `id, channel, queue, call_id, caller, dialled, language,
	intent, priority, skills, vars, path, flow, flow_version, enqueued_at`

// List returns the contacts waiting in queue (all queues when empty), first
// to be served first: by priority, highest first, then by arrival.
func (q *Queues) List(ctx context.Context, queue string) ([]WaitingContact, error) {
	cs, err := q.waitingRows(ctx, queue)
	if err != nil {
		return nil, fmt.Errorf("list queue %q: %w", queue, err)
	}
	var infos map[string]*CallbackInfo
	for i := range cs {
		if cs[i].Channel == ChannelCallback {
			if infos, err = q.callbackInfos(ctx, queue); err != nil {
				return nil, fmt.Errorf("list queue %q: %w", queue, err)
			}
			break
		}
	}
	now := q.clock.Now()
	out := make([]WaitingContact, 0, len(cs))
	for i := range cs {
		w := waitingContact(&cs[i], now)
		w.Callback = infos[w.ID]
		out = append(out, w)
	}
	return out, nil
}

// waitingRows reads the waiting contacts of the store, in serving order.
func (q *Queues) waitingRows(ctx context.Context, queue string) ([]ivr.Contact, error) {
	query := `SELECT ` + contactColumns + ` FROM contacts WHERE state = 'waiting'`
	var args []any
	if queue != "" {
		query += ` AND queue = ?`
		args = append(args, queue)
	}
	query += ` ORDER BY priority DESC, enqueued_at ASC, rowid ASC`
	rows, err := q.db.Reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ivr.Contact
	for rows.Next() {
		var (
			c               ivr.Contact
			sk, vs, ps, enq string
		)
		if err := rows.Scan(&c.ID, &c.Channel, &c.Queue, &c.CallID, &c.Caller, &c.Dialled,
			&c.Language, &c.Intent, &c.Priority, &sk, &vs, &ps, &c.Flow, &c.FlowVersion, &enq); err != nil {
			return nil, err
		}
		if err := decodeContact(&c, sk, vs, ps, enq); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// decodeContact reads the JSON and time columns of a contacts row.
func decodeContact(c *ivr.Contact, skills, vars, path, enqueued string) error {
	if err := json.Unmarshal([]byte(skills), &c.Skills); err != nil {
		return fmt.Errorf("decode skills of %s: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(path), &c.Path); err != nil {
		return fmt.Errorf("decode path of %s: %w", c.ID, err)
	}
	if len(c.Path) == 0 {
		c.Path = nil
	}
	var err error
	if c.Vars, err = store.UnmarshalVars(vars); err != nil {
		return fmt.Errorf("contact %s: %w", c.ID, err)
	}
	if c.EnqueuedAt, err = store.ParseTime(enqueued); err != nil {
		return fmt.Errorf("contact %s: %w", c.ID, err)
	}
	return nil
}

// Summary returns every queue that has contacts waiting or had contacts
// leave during the last SummaryWindow, by name.
func (q *Queues) Summary(ctx context.Context) ([]QueueSummary, error) {
	now := q.clock.Now()
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
		case StateTransferred:
			s.Transferred = n
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

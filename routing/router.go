package routing

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

const (
	// retryDelay is how long an agent who declined a contact (or let it
	// ring out) waits before being offered it again, once every qualified
	// agent has declined it: a phone that answers busy at once must not be
	// rung in a tight loop.
	retryDelay = 5 * time.Second
	// acceptTimeout is how long a call has to take the leg of an agent who
	// accepted it in the browser before the offer is withdrawn.
	acceptTimeout = 10 * time.Second
	// eventBuffer is the room in a call's Events channel: one offer at a
	// time gives at most an offer and its acceptance to read, and
	// withdrawing an offer drains what the call did not read.
	eventBuffer = 8
	// deskBuffer is the room in a desk subscription; a desk that lets it
	// fill is dropped (its channel closed) and reconnects.
	deskBuffer = 64
	// handleSamples is how many recent conversations of a queue give its
	// average handle time.
	handleSamples = 20
)

// Contact states in memory.
const (
	contactWaiting = iota
	contactConnected
	contactGone
)

// agent is an agent in memory.
type agent struct {
	name      string
	cfg       AgentConfig
	skills    map[string]int // lower-case names
	languages []string       // lower case
	capacity  map[string]int
	wrapUp    time.Duration

	// presence is what the agent chose: signed_out, away or available.
	// The state shown (offered, busy, wrap_up) derives from it and from
	// the offer, the load and the wrap-up.
	presence  string
	state     string
	since     time.Time
	idleSince time.Time
	wrapUntil time.Time // zero when not wrapping up
	wrapStop  func() bool
	offer     *offer
	load      map[string]int
	contacts  map[string]*contact // in conversation, by id
	subs      map[chan AgentEvent]struct{}
}

func newAgent(c AgentConfig, wrapUp time.Duration, now time.Time) *agent {
	a := &agent{
		name:     c.Name,
		cfg:      c,
		skills:   map[string]int{},
		capacity: DefaultCapacity(),
		wrapUp:   wrapUp,
		presence: AgentSignedOut,
		state:    AgentSignedOut,
		since:    now,
		load:     map[string]int{},
		contacts: map[string]*contact{},
		subs:     map[chan AgentEvent]struct{}{},
	}
	for k, v := range c.Skills {
		a.skills[strings.ToLower(k)] = v
	}
	for _, l := range c.Languages {
		a.languages = append(a.languages, strings.ToLower(l))
	}
	if len(c.Capacity) > 0 {
		a.capacity = map[string]int{}
		for _, ch := range []string{ChannelVoice, ChannelWebRTC, ChannelChat, ChannelEmail} {
			a.capacity[ch] = c.Capacity[ch]
		}
	}
	for ch, n := range a.capacity {
		if n > 0 {
			a.load[ch] = 0
		}
	}
	if c.WrapUp > 0 {
		a.wrapUp = c.WrapUp
	}
	return a
}

// phone reports whether the agent takes calls on a phone ivrd rings
// rather than in the browser.
func (a *agent) phone() bool { return a.cfg.Phone != "" || a.cfg.Dial != "" }

// inCall reports whether the agent is in a call: a call takes the agent's
// whole attention, nothing else is offered meanwhile.
func (a *agent) inCall() bool { return a.load[ChannelVoice]+a.load[ChannelWebRTC] > 0 }

func (a *agent) busy() bool {
	for _, n := range a.load {
		if n > 0 {
			return true
		}
	}
	return false
}

// derive is the state the agent shows.
func (a *agent) derive() string {
	switch {
	case a.presence == AgentSignedOut:
		return AgentSignedOut
	case a.offer != nil:
		return AgentOffered
	case a.busy():
		return AgentBusy
	case !a.wrapUntil.IsZero():
		return AgentWrapUp
	default:
		return a.presence
	}
}

// free reports whether the agent can be offered a contact of channel ch
// now: available, no offer pending, not wrapping up, room on ch.
func (a *agent) free(ch string) bool {
	return a.presence == AgentAvailable && a.offer == nil && a.wrapUntil.IsZero() &&
		!a.inCall() && a.load[ch] < a.capacity[ch]
}

func (a *agent) freeForAny() bool {
	return a.presence == AgentAvailable && a.offer == nil && a.wrapUntil.IsZero() && !a.inCall()
}

// qualifies reports whether the agent may take c at all: channel, queue,
// language and skills, whatever the agent does now.
func (a *agent) qualifies(c *contact) bool {
	if a.capacity[c.channel()] <= 0 {
		return false
	}
	if len(a.cfg.Queues) > 0 && !slices.Contains(a.cfg.Queues, c.info.Queue) {
		return false
	}
	if c.lang != "" && len(a.languages) > 0 && !a.speaks(c.lang) {
		return false
	}
	for _, r := range c.req {
		if a.skills[r.name] >= r.level || a.speaks(r.name) {
			continue
		}
		// A skill naming the call's language (skills: [technique, fr]) is
		// met by an agent who lists no languages: one who speaks any.
		if len(a.languages) == 0 && c.lang != "" && r.name == c.lang {
			continue
		}
		return false
	}
	return true
}

// speaks reports whether lang (lower case) is among the agent's
// languages; an agent speaking fr takes fr-ca.
func (a *agent) speaks(lang string) bool {
	for _, l := range a.languages {
		if lang == l || strings.HasPrefix(lang, l+"-") {
			return true
		}
	}
	return false
}

// contact is a waiting contact, or one in conversation, in memory.
type contact struct {
	id          string
	info        ivr.Contact
	req         []skillReq
	lang        string // lower case
	seq         uint64
	w           *waiting // live calls only
	state       int
	offer       *offer
	tried       map[string]time.Time // agents who declined it, and when
	agent       *agent
	connectedAt time.Time
	leg         ivr.Leg
	cb          *callback // callback requests only
}

// channel is the channel whose capacity the contact takes: a callback is
// a call, it takes the agent's voice capacity.
func (c *contact) channel() string {
	if c.info.Channel == ChannelCallback {
		return ChannelVoice
	}
	return c.info.Channel
}

func newContact(c ivr.Contact) *contact {
	ct := &contact{id: c.ID, info: c, lang: strings.ToLower(c.Language), tried: map[string]time.Time{}}
	ct.info.Skills = slices.Clone(c.Skills)
	ct.info.Vars = maps.Clone(c.Vars)
	ct.info.Path = slices.Clone(c.Path)
	for _, s := range c.Skills {
		if r, err := parseSkill(s); err == nil {
			ct.req = append(ct.req, r)
		}
	}
	return ct
}

// before reports whether c is served before d: higher priority first, then
// longer waiting, then earlier arrival in this router.
func (c *contact) before(d *contact) bool {
	if c.info.Priority != d.info.Priority {
		return c.info.Priority > d.info.Priority
	}
	if !c.info.EnqueuedAt.Equal(d.info.EnqueuedAt) {
		return c.info.EnqueuedAt.Before(d.info.EnqueuedAt)
	}
	return c.seq < d.seq
}

// offer is a contact proposed to one agent.
type offer struct {
	id       string
	c        *contact
	a        *agent
	at       time.Time
	deadline time.Time
	stop     func() bool
	// leg is the browser leg of an agent who accepted a call in the desk,
	// until the call takes it (Waiting.Answer).
	leg ivr.Leg
}

func (o *offer) ivr() ivr.Offer {
	return ivr.Offer{ID: o.id, Agent: o.a.name, Phone: o.a.cfg.Phone, Dial: o.a.cfg.Dial, Deadline: o.deadline}
}

// effects are what the router decided and must happen once its mutex is
// released: rows to write, legs to hang up.
type effects struct {
	stmts   []stmt
	hangups []hangup
	starts  []func() // run once the rows are written: callback attempts
}

type stmt struct {
	query string
	args  []any
}

type hangup struct {
	leg    ivr.Leg
	reason string
}

func (fx *effects) exec(query string, args ...any) {
	fx.stmts = append(fx.stmts, stmt{query, args})
}

func (fx *effects) hangup(leg ivr.Leg, reason string) {
	fx.hangups = append(fx.hangups, hangup{leg, reason})
}

// do runs fn under the router's mutex, then carries out its effects.
func (q *Queues) do(ctx context.Context, fn func(now time.Time, fx *effects) error) error {
	fx := &effects{}
	q.mu.Lock()
	err := fn(q.clock.Now(), fx)
	q.mu.Unlock()
	q.apply(ctx, fx)
	return err
}

// apply writes the rows of fx in one transaction, then hangs up its legs.
// A failed write is logged: the router already decided, and a call must
// not be dropped because its record could not be written.
func (q *Queues) apply(ctx context.Context, fx *effects) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if len(fx.stmts) > 0 {
		err := q.db.Write(ctx, func(tx *sql.Tx) error {
			for _, s := range fx.stmts {
				if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			q.log.ErrorContext(ctx, "record routing change", "err", err)
		}
	}
	for _, h := range fx.hangups {
		if err := h.leg.Hangup(ctx, h.reason); err != nil {
			q.log.WarnContext(ctx, "hang up agent leg", "reason", h.reason, "err", err)
		}
	}
	for _, start := range fx.starts {
		start()
	}
}

// list puts a new contact in the serving order.
func (q *Queues) list(c *contact) {
	q.seq++
	c.seq = q.seq
	q.contacts[c.id] = c
	i := sort.Search(len(q.order), func(i int) bool { return c.before(q.order[i]) })
	q.order = slices.Insert(q.order, i, c)
	q.changed()
}

// unlist takes c out of the serving order.
func (q *Queues) unlist(c *contact) {
	if i := slices.Index(q.order, c); i >= 0 {
		q.order = slices.Delete(q.order, i, i+1)
	}
}

// match offers the waiting contacts, in serving order, each to the
// qualified free agent idle the longest. One pass is enough: an offer only
// takes an agent away, so a contact passed over has no agent later in the
// pass either.
func (q *Queues) match(now time.Time, fx *effects) {
	if q.closed {
		return
	}
	for _, c := range q.order {
		if !q.anyFree() {
			return
		}
		if c.offer != nil || (c.cb != nil && !q.callbackReady(c, now)) {
			continue
		}
		a := q.pick(c, now)
		if a == nil {
			continue
		}
		if c.cb != nil && c.cb.att == nil && c.cb.mode == ivr.CallbackCallerFirst {
			// The customer is called first; no agent is held meanwhile.
			q.turn(c, now, fx)
			continue
		}
		q.offerContact(c, a, now, fx)
	}
}

// offerContact offers c to a; a callback without an attempt in progress
// starts one, whose first event is this offer.
func (q *Queues) offerContact(c *contact, a *agent, now time.Time, fx *effects) {
	if c.cb != nil && c.cb.att == nil {
		q.startAttempt(c, now, fx)
	}
	q.propose(c, a, now, fx)
}

func (q *Queues) anyFree() bool {
	for _, a := range q.agents {
		if a.freeForAny() {
			return true
		}
	}
	return false
}

// pick returns the agent to offer c to, or nil: among the free qualified
// agents who have not declined c, the one idle the longest. Once every
// qualified agent declined c, each may be offered it again retryDelay
// after its decline.
func (q *Queues) pick(c *contact, now time.Time) *agent {
	for round := 0; ; round++ {
		var best *agent
		qualified, allTried := false, true
		for _, name := range q.names {
			a := q.agents[name]
			if a.presence != AgentAvailable || !a.qualifies(c) {
				continue
			}
			qualified = true
			_, tried := c.tried[name]
			if !tried {
				allTried = false
			}
			if tried || !a.free(c.channel()) {
				continue
			}
			if best == nil || a.idleSince.Before(best.idleSince) {
				best = a
			}
		}
		if best != nil || !qualified || !allTried || round > 0 || !q.forgive(c, now) {
			return best
		}
	}
}

// forgive clears the declines of c older than retryDelay, and schedules a
// new match for the others; it reports whether it cleared any.
func (q *Queues) forgive(c *contact, now time.Time) bool {
	var next time.Time
	cleared := false
	for name, at := range c.tried {
		due := at.Add(retryDelay)
		if !due.After(now) {
			delete(c.tried, name)
			cleared = true
		} else if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if !next.IsZero() {
		q.scheduleRetry(next, now)
	}
	return cleared
}

// scheduleRetry has the router match again at t.
func (q *Queues) scheduleRetry(t, now time.Time) {
	if q.retry != nil && !q.retryAt.After(t) {
		return
	}
	if q.retry != nil {
		q.retry()
	}
	q.retryAt = t
	q.retry = q.clock.AfterFunc(t.Sub(now), func() {
		_ = q.do(context.Background(), func(now time.Time, fx *effects) error {
			if q.closed || !q.retryAt.Equal(t) {
				return nil
			}
			q.retry, q.retryAt = nil, time.Time{}
			q.match(now, fx)
			return nil
		})
	})
}

// propose offers c to a.
func (q *Queues) propose(c *contact, a *agent, now time.Time, fx *effects) {
	o := &offer{id: newID(), c: c, a: a, at: now, deadline: now.Add(q.cfg.OfferTimeout)}
	c.offer, a.offer = o, o
	o.stop = q.clock.AfterFunc(q.cfg.OfferTimeout, func() { q.expire(o) })
	fx.exec(`UPDATE contacts SET offers = offers + 1 WHERE id = ?`, c.id)
	if c.w != nil && !c.w.send(ivr.QueueEvent{Kind: ivr.EventOffered, Offer: o.ivr()}) {
		q.log.Warn("call not reading its queue events; the offer will time out",
			"contact_id", c.id, "call_id", c.info.CallID, "agent", a.name)
	}
	view := q.offerView(o, now)
	q.notify(a, now, fx, &AgentEvent{Type: "offer", Offer: &view}, c.id, "")
	q.log.Info("contact offered", "contact_id", c.id, "call_id", c.info.CallID, "queue", c.info.Queue,
		"agent", a.name, "offer_id", o.id)
	q.changed()
}

// expire ends an offer not taken in time.
func (q *Queues) expire(o *offer) {
	_ = q.do(context.Background(), func(now time.Time, fx *effects) error {
		// A timer that fired as the offer was accepted (which moves the
		// deadline) is late: the offer stands.
		if q.closed || o.c.offer != o || now.Before(o.deadline) {
			return nil
		}
		o.stop = nil
		if o.leg != nil {
			q.log.Warn("the call did not take the leg of the agent who accepted it",
				"contact_id", o.c.id, "agent", o.a.name, "offer_id", o.id)
			q.withdraw(o, now, fx, withdrawal{reason: "the call did not take the agent's leg", tell: true, declined: true})
		} else {
			q.log.Info("offer not answered", "contact_id", o.c.id, "agent", o.a.name, "offer_id", o.id)
			q.withdraw(o, now, fx, withdrawal{reason: reasonNoAnswer, tell: true, declined: true,
				presence: q.cfg.NoAnswer, spare: true})
		}
		q.match(now, fx)
		return nil
	})
}

const reasonNoAnswer = "no answer"

// withdrawal says how an offer ends without the agent taking it.
type withdrawal struct {
	reason string // for the desk and the audit
	// tell sends EventWithdrawn to the call (not when the call itself
	// reported the decline, or leaves).
	tell bool
	// declined keeps the contact from this agent until every qualified
	// agent declined it.
	declined bool
	// presence is the agent's presence afterwards ("" unchanged).
	presence string
	// spare leaves the presence unchanged when the call never read the
	// offer, so the agent's phone never rang: not the agent's fault.
	spare bool
}

// withdraw ends o without a conversation.
func (q *Queues) withdraw(o *offer, now time.Time, fx *effects, w withdrawal) {
	c, a := o.c, o.a
	if o.stop != nil {
		o.stop()
		o.stop = nil
	}
	c.offer, a.offer = nil, nil
	unseen := false
	if c.w != nil {
		unseen = c.w.drain(o.id)
		if w.tell && !unseen {
			c.w.send(ivr.QueueEvent{Kind: ivr.EventWithdrawn, Offer: o.ivr()})
		}
	}
	if w.declined {
		c.tried[a.name] = now
	}
	if o.leg != nil {
		fx.hangup(o.leg, w.reason)
		o.leg = nil
	}
	phoneNeverRang := unseen && a.phone() && c.w != nil
	if w.presence != "" && w.presence != a.presence && !(w.spare && phoneNeverRang) {
		a.presence = w.presence
		if w.presence == AgentAway {
			q.log.Info("agent set away", "agent", a.name, "reason", w.reason)
		}
	}
	view := q.offerView(o, now)
	q.notify(a, now, fx, &AgentEvent{Type: "withdrawn", Offer: &view, Reason: w.reason}, c.id, w.reason)
	q.changed()
}

// connect puts the contact of o in conversation with its agent.
func (q *Queues) connect(o *offer, leg ivr.Leg, now time.Time, fx *effects) {
	c, a := o.c, o.a
	if o.stop != nil {
		o.stop()
		o.stop = nil
	}
	c.offer, a.offer = nil, nil
	q.unlist(c)
	c.state, c.agent, c.connectedAt, c.leg = contactConnected, a, now, leg
	a.load[c.channel()]++
	a.contacts[c.id] = c
	a.idleSince = now
	wait := max(now.Sub(c.info.EnqueuedAt), 0)
	fx.exec(`UPDATE contacts SET state = 'connected', reason = 'connected', agent = ?, left_at = ?,
		wait_ms = ?, connected_at = ? WHERE id = ? AND state = 'waiting'`,
		a.name, store.FormatTime(now), wait.Milliseconds(), store.FormatTime(now), c.id)
	view := q.contactView(c, now)
	q.notify(a, now, fx, &AgentEvent{Type: "connected", Contact: &view}, c.id, "")
	if c.cb != nil {
		q.callbackConnected(c, now, fx)
	}
	q.log.Info("contact connected", "contact_id", c.id, "call_id", c.info.CallID, "queue", c.info.Queue,
		"agent", a.name, "wait", wait)
	q.changed()
	// An agent with room for more chats is offered the next one.
	q.match(now, fx)
}

// leave takes a waiting contact out of its queue without an agent.
func (q *Queues) leave(c *contact, state, reason string, now time.Time, fx *effects) {
	q.unlist(c)
	delete(q.contacts, c.id)
	c.state = contactGone
	wait := max(now.Sub(c.info.EnqueuedAt), 0)
	fx.exec(`UPDATE contacts SET state = ?, reason = ?, left_at = ?, wait_ms = ? WHERE id = ? AND state = 'waiting'`,
		state, reason, store.FormatTime(now), wait.Milliseconds(), c.id)
	q.log.Info("contact left queue", "contact_id", c.id, "call_id", c.info.CallID, "queue", c.info.Queue,
		"reason", reason, "wait", wait)
	q.changed()
}

// end ends the conversation of c; the agent wraps up.
func (q *Queues) end(c *contact, by string, now time.Time, fx *effects) {
	a := c.agent
	delete(a.contacts, c.id)
	a.load[c.channel()]--
	delete(q.contacts, c.id)
	c.state = contactGone
	talk := max(now.Sub(c.connectedAt), 0)
	fx.exec(`UPDATE contacts SET ended_at = ?, talk_ms = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL`,
		store.FormatTime(now), talk.Milliseconds(), by, c.id)
	q.handled(c.info.Queue, talk+a.wrapUp)
	if a.wrapUp > 0 && a.presence != AgentSignedOut {
		until := now.Add(a.wrapUp)
		if until.After(a.wrapUntil) {
			if a.wrapStop != nil {
				a.wrapStop()
			}
			a.wrapUntil = until
			a.wrapStop = q.clock.AfterFunc(a.wrapUp, func() { q.wrapped(a, until) })
		}
	} else if !a.busy() {
		a.idleSince = now
	}
	view := q.contactView(c, now)
	q.notify(a, now, fx, &AgentEvent{Type: "ended", Contact: &view, Reason: by}, c.id, "ended by "+by)
	q.log.Info("conversation ended", "contact_id", c.id, "call_id", c.info.CallID, "agent", a.name,
		"ended_by", by, "talk", talk)
	q.changed()
	q.match(now, fx)
}

// wrapped ends the wrap-up that was to end at until.
func (q *Queues) wrapped(a *agent, until time.Time) {
	_ = q.do(context.Background(), func(now time.Time, fx *effects) error {
		if q.closed || !a.wrapUntil.Equal(until) {
			return nil
		}
		a.wrapStop = nil
		q.endWrapUp(a, now, fx, "wrap-up over")
		q.match(now, fx)
		return nil
	})
}

func (q *Queues) endWrapUp(a *agent, now time.Time, fx *effects, reason string) {
	if a.wrapUntil.IsZero() {
		return
	}
	if a.wrapStop != nil {
		a.wrapStop()
		a.wrapStop = nil
	}
	a.wrapUntil = time.Time{}
	if !a.busy() {
		a.idleSince = now
	}
	q.notify(a, now, fx, nil, "", reason)
	q.changed()
}

// notify brings the agent's state up to date, recording a change, and
// pushes ev (or, without one, the change) to the agent's desks.
func (q *Queues) notify(a *agent, now time.Time, fx *effects, ev *AgentEvent, contactID, reason string) {
	if s := a.derive(); s != a.state {
		a.state, a.since = s, now
		fx.exec(`INSERT INTO agent_events (agent, at, state, contact_id, reason) VALUES (?, ?, ?, ?, ?)`,
			a.name, store.FormatTime(now), s, contactID, reason)
		if ev == nil {
			ev = &AgentEvent{Type: "state", Reason: reason}
		}
		q.changed()
	}
	if ev == nil || len(a.subs) == 0 {
		return
	}
	ev.Agent = q.status(a, now)
	for ch := range a.subs {
		select {
		case ch <- *ev:
		default:
			// A desk that does not keep up is dropped; it reconnects and
			// starts again from the current state.
			delete(a.subs, ch)
			close(ch)
			q.log.Warn("desk too slow; subscription dropped", "agent", a.name)
		}
	}
}

// changed wakes the watchers of the board.
func (q *Queues) changed() {
	for ch := range q.watchers {
		select {
		case ch <- struct{}{}:
		default: // a change is already pending: coalesced
		}
	}
}

// handleTimes are the last handle times (talk and wrap-up) of a queue.
type handleTimes struct {
	d    [handleSamples]time.Duration
	n, i int
}

func (q *Queues) handled(queue string, d time.Duration) {
	h := q.handle[queue]
	if h == nil {
		h = &handleTimes{}
		q.handle[queue] = h
	}
	h.d[h.i] = d
	h.i = (h.i + 1) % handleSamples
	h.n = min(h.n+1, handleSamples)
}

// averageHandle is the mean of the queue's recent handle times, or the
// configured default before any.
func (q *Queues) averageHandle(queue string) time.Duration {
	h := q.handle[queue]
	if h == nil || h.n == 0 {
		return q.cfg.DefaultHandleTime
	}
	var sum time.Duration
	for _, d := range h.d[:h.n] {
		sum += d
	}
	return sum / time.Duration(h.n)
}

// status is the agent as desks and supervisors see it.
func (q *Queues) status(a *agent, now time.Time) AgentStatus {
	s := AgentStatus{
		Name:      a.name,
		State:     a.state,
		Since:     a.since,
		Phone:     a.cfg.Phone,
		Browser:   !a.phone(),
		Skills:    maps.Clone(a.skills),
		Languages: slices.Clone(a.cfg.Languages),
		Queues:    slices.Clone(a.cfg.Queues),
		Capacity:  maps.Clone(a.capacity),
		Load:      maps.Clone(a.load),
		IdleSince: a.idleSince,
	}
	if !a.wrapUntil.IsZero() {
		t := a.wrapUntil
		s.WrapUpUntil = &t
	}
	if a.offer != nil {
		v := q.offerView(a.offer, now)
		s.Offer = &v
	}
	for _, c := range a.contacts {
		s.Contacts = append(s.Contacts, q.contactView(c, now))
	}
	sort.Slice(s.Contacts, func(i, j int) bool {
		return s.Contacts[i].ConnectedAt.Before(*s.Contacts[j].ConnectedAt)
	})
	return s
}

func (q *Queues) offerView(o *offer, now time.Time) OfferView {
	return OfferView{ID: o.id, Contact: q.contactView(o.c, now), Deadline: o.deadline,
		Phone: o.c.w != nil && o.a.phone()}
}

// contactView is the screen-pop of c: everything the IVR learned.
func (q *Queues) contactView(c *contact, now time.Time) ContactView {
	end := now
	if !c.connectedAt.IsZero() {
		end = c.connectedAt // the wait ended there
	}
	v := ContactView{WaitingContact: q.waitingOf(c, end), Path: slices.Clone(c.info.Path)}
	if c.agent != nil {
		t := c.connectedAt
		v.ConnectedAt, v.Agent = &t, c.agent.name
	}
	return v
}

// agentNamed returns the agent of that name.
func (q *Queues) agentNamed(name string) (*agent, error) {
	a := q.agents[name]
	if a == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownAgent, name)
	}
	return a, nil
}

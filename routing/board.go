package routing

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ivrd/ivrd/ivr"
)

// position is where c stands in its queue, and its estimated wait.
func (q *Queues) position(c *contact) (ivr.QueuePosition, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.state != contactWaiting {
		return ivr.QueuePosition{}, fmt.Errorf("queue position of %s: %w", c.id, ErrNotWaiting)
	}
	pos := 1
	for _, d := range q.order {
		if d == c {
			break
		}
		if d.info.Queue == c.info.Queue {
			pos++
		}
	}
	return ivr.QueuePosition{Position: pos, EWT: q.ewt(c, pos)}, nil
}

// ewt estimates the wait of c at position pos of its queue: each contact
// ahead, and c itself, takes the queue's average handle time (talk and
// wrap-up of its recent conversations, DefaultHandleTime before any),
// shared among the agents present who may take c (at least one):
//
//	EWT = pos × AHT / max(1, agents)
//
// Agents present are those not signed out nor away, whether free or busy:
// a busy agent frees up within a handle time. A contact being offered, or
// one that an agent free now will take, waits no handle time: the
// estimate says a wait only when someone is really ahead.
func (q *Queues) ewt(c *contact, pos int) time.Duration {
	if c.offer != nil {
		return 0
	}
	free := 0
	for _, a := range q.agents {
		if a.free(c.channel()) && a.qualifies(c) {
			free++
		}
	}
	if pos <= free {
		return 0
	}
	return q.ewtWith(c, pos-free, q.present(c))
}

// ewtWith is ewt with the number of agents present who may take c.
func (q *Queues) ewtWith(c *contact, pos, agents int) time.Duration {
	return time.Duration(pos) * q.averageHandle(c.info.Queue) / time.Duration(max(agents, 1))
}

// present counts the agents present who may take c.
func (q *Queues) present(c *contact) int {
	n := 0
	for _, a := range q.agents {
		if a.presence == AgentAvailable && a.qualifies(c) {
			n++
		}
	}
	return n
}

// needs identifies what an agent must have to take c, so that contacts
// with the same needs share one count of agents.
func needs(c *contact) string {
	return c.info.Queue + "\x00" + c.info.Channel + "\x00" + c.lang + "\x00" + strings.Join(c.info.Skills, "\x00")
}

// Board returns the live picture of the queues and agents: the waiting
// contacts of each queue in serving order with their position, estimated
// wait and the agent they are offered to, and the agents able to take
// them, by state. Queues listed are those with contacts waiting and those
// named in an agent's queues.
func (q *Queues) Board(ctx context.Context) (Board, error) {
	if err := ctx.Err(); err != nil {
		return Board{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	byName := map[string]*QueueBoard{}
	get := func(name string) *QueueBoard {
		b := byName[name]
		if b == nil {
			b = &QueueBoard{Name: name, Waiting: []PositionedWait{}, Agents: map[string]int{}}
			byName[name] = b
		}
		return b
	}
	for _, a := range q.agents {
		for _, name := range a.cfg.Queues {
			get(name)
		}
	}
	// Contacts mostly share a few needs: count the agents once for each,
	// not once per contact (the board is built under the router's lock).
	counts := map[string]int{}
	for _, c := range q.order {
		b := get(c.info.Queue)
		pw := PositionedWait{WaitingContact: q.waitingOf(c, now), Position: len(b.Waiting) + 1}
		key := needs(c)
		n, ok := counts[key]
		if !ok {
			n = q.present(c)
			counts[key] = n
		}
		pw.EWTSeconds = seconds(q.ewtWith(c, pw.Position, n))
		if c.offer != nil {
			pw.OfferedTo = c.offer.a.name
		}
		if c.cb == nil {
			// A callback's customer is not on the line: its wait is not
			// the queue's longest wait.
			b.LongestWaitSeconds = max(b.LongestWaitSeconds, pw.WaitSeconds)
		}
		b.Waiting = append(b.Waiting, pw)
	}
	for name, b := range byName {
		for _, a := range q.agents {
			if a.serves(name) {
				b.Agents[a.state]++
			}
		}
	}
	out := Board{At: now, Queues: make([]QueueBoard, 0, len(byName)), Agents: make([]AgentStatus, 0, len(q.names))}
	for _, b := range byName {
		out.Queues = append(out.Queues, *b)
	}
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Name < out.Queues[j].Name })
	for _, name := range q.names {
		out.Agents = append(out.Agents, q.status(q.agents[name], now))
	}
	return out, nil
}

// serves reports whether the agent takes contacts of the queue (on some
// channel): every queue when its configuration names none.
func (a *agent) serves(queue string) bool {
	return len(a.cfg.Queues) == 0 || slices.Contains(a.cfg.Queues, queue)
}

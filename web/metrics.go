package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ivrd/ivrd/routing"
)

// metricsContentType is the Prometheus text exposition format 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// agentStates are the states /metrics always reports, zero or not, so
// that a series does not vanish when no agent is in it.
var agentStates = []string{
	routing.AgentSignedOut, routing.AgentAway, routing.AgentAvailable,
	routing.AgentOffered, routing.AgentBusy, routing.AgentWrapUp,
}

// metrics serves GET /metrics: the queues' service figures per interval,
// the agents by state and the calls in progress, in Prometheus text
// format. It gives aggregates only: no agent, caller or contact is named,
// so it needs no token.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var m metricWriter
	if s.cfg.Agents != nil {
		st, err := s.stats(r.Context())
		if err != nil {
			s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", fmt.Errorf("read stats: %w", err))
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		writeStats(&m, st)
		byState := make(map[string]int, len(agentStates))
		for _, a := range s.cfg.Agents.Agents() {
			byState[a.State]++
		}
		m.family("ivrd_agents", "Agents by state.")
		for _, state := range agentStates {
			m.sample("ivrd_agents", float64(byState[state]), "state", state)
		}
	}
	if s.cfg.ActiveCalls != nil {
		m.family("ivrd_active_calls", "Calls in progress.")
		m.sample("ivrd_active_calls", float64(s.cfg.ActiveCalls()))
	}
	h := w.Header()
	h.Set("Content-Type", metricsContentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(m.buf.Bytes())
}

// queueFigure is one figure of QueueStats, exported twice: for all queues
// (ivrd_<name>) and per queue (ivrd_queue_<name>).
type queueFigure struct {
	name, help string
	// value reports false when the figure is undefined (a ratio over
	// nothing): no sample is written.
	value func(q *routing.QueueStats) (float64, bool)
}

func count(f func(q *routing.QueueStats) int) func(q *routing.QueueStats) (float64, bool) {
	return func(q *routing.QueueStats) (float64, bool) { return float64(f(q)), true }
}

func ratio(f func(q *routing.QueueStats) *float64) func(q *routing.QueueStats) (float64, bool) {
	return func(q *routing.QueueStats) (float64, bool) {
		if v := f(q); v != nil {
			return *v, true
		}
		return 0, false
	}
}

// intervalFigures are per interval ("today", "15m"), over the contacts
// that left the queue in it.
var intervalFigures = []queueFigure{
	{"offered_contacts", "Contacts that left the queue in the interval: answered, abandoned, timed out (callback requests apart).",
		count(func(q *routing.QueueStats) int { return q.Offered })},
	{"answered_contacts", "Contacts answered by an agent in the interval.",
		count(func(q *routing.QueueStats) int { return q.Answered })},
	{"answered_in_threshold_contacts", "Contacts answered within the service level threshold.",
		count(func(q *routing.QueueStats) int { return q.AnsweredInThreshold })},
	{"abandoned_contacts", "Contacts abandoned while waiting, short abandons included.",
		count(func(q *routing.QueueStats) int { return q.Abandoned })},
	{"short_abandoned_contacts", "Contacts abandoned before the short abandon threshold.",
		count(func(q *routing.QueueStats) int { return q.ShortAbandoned })},
	{"timed_out_contacts", "Contacts that waited the flow's maximum.",
		count(func(q *routing.QueueStats) int { return q.TimedOut })},
	{"transferred_contacts", "Contacts that left for another queue.",
		count(func(q *routing.QueueStats) int { return q.Transferred })},
	{"service_level_ratio", "Share of offered contacts, short abandons left out, answered within the threshold.",
		ratio(func(q *routing.QueueStats) *float64 { return q.ServiceLevel })},
	{"abandon_rate_ratio", "Share of offered contacts abandoned.",
		ratio(func(q *routing.QueueStats) *float64 { return q.AbandonRate })},
	{"asa_seconds", "Average speed of answer: mean wait of the answered contacts.",
		ratio(func(q *routing.QueueStats) *float64 { return q.ASASeconds })},
	{"average_talk_seconds", "Mean conversation length of the conversations that ended in the interval.",
		ratio(func(q *routing.QueueStats) *float64 { return q.AverageTalkSeconds })},
	// Callback requests, counted apart from the figures above.
	{"offered_callbacks", "Callbacks offered to callers by the flows, taken or not.",
		count(func(q *routing.QueueStats) int { return q.Callbacks.Offered })},
	{"requested_callbacks", "Callback requests stored.",
		count(func(q *routing.QueueStats) int { return q.Callbacks.Requested })},
	{"completed_callbacks", "Callback requests whose customer talked to an agent.",
		count(func(q *routing.QueueStats) int { return q.Callbacks.Completed })},
	{"failed_callbacks", "Callback requests that failed: every attempt missed the customer, or the customer left.",
		count(func(q *routing.QueueStats) int { return q.Callbacks.Failed })},
	{"cancelled_callbacks", "Callback requests cancelled.",
		count(func(q *routing.QueueStats) int { return q.Callbacks.Cancelled })},
	{"time_to_callback_seconds", "Mean time from a callback request to the customer's conversation with an agent, of the requests completed in the interval.",
		ratio(func(q *routing.QueueStats) *float64 { return q.Callbacks.AverageTimeToCallbackSeconds })},
	{"callback_talk_seconds", "Mean length of the callback conversations that ended in the interval.",
		ratio(func(q *routing.QueueStats) *float64 { return q.Callbacks.AverageTalkSeconds })},
}

// nowFigures are now, whatever the interval.
var nowFigures = []queueFigure{
	{"waiting_contacts", "Contacts waiting now.",
		count(func(q *routing.QueueStats) int { return q.Waiting })},
	{"longest_wait_seconds", "Wait of the contact waiting longest now.",
		func(q *routing.QueueStats) (float64, bool) { return q.LongestWaitSeconds, true }},
	{"open_callbacks", "Callback requests pending or in an attempt now.",
		count(func(q *routing.QueueStats) int { return q.Callbacks.Open })},
}

// writeStats writes the figures of st: for all queues, then per queue.
func writeStats(m *metricWriter, st routing.Stats) {
	m.family("ivrd_service_level_threshold_seconds", "Answer time of the service level.")
	m.sample("ivrd_service_level_threshold_seconds", st.ThresholdSeconds)
	m.family("ivrd_short_abandon_threshold_seconds", "Abandons before this wait are short abandons.")
	m.sample("ivrd_short_abandon_threshold_seconds", st.ShortAbandonSeconds)
	for _, scope := range []struct {
		prefix, help string
		perQueue     bool
	}{{"ivrd_", " All queues.", false}, {"ivrd_queue_", " Per queue.", true}} {
		for _, f := range intervalFigures {
			name := scope.prefix + f.name
			m.family(name, f.help+scope.help)
			for _, in := range st.Intervals {
				if !scope.perQueue {
					if v, ok := f.value(&in.Total); ok {
						m.sample(name, v, "interval", in.Name)
					}
					continue
				}
				for i := range in.Queues {
					q := &in.Queues[i]
					if v, ok := f.value(q); ok {
						m.sample(name, v, "queue", q.Queue, "interval", in.Name)
					}
				}
			}
		}
		// The figures of now are the same in every interval: the first
		// gives them, and the queues of the others that it lacks.
		for _, f := range nowFigures {
			name := scope.prefix + f.name
			m.family(name, f.help+scope.help)
			if !scope.perQueue {
				if len(st.Intervals) > 0 {
					v, _ := f.value(&st.Intervals[0].Total)
					m.sample(name, v)
				}
				continue
			}
			seen := map[string]bool{}
			for _, in := range st.Intervals {
				for i := range in.Queues {
					q := &in.Queues[i]
					if seen[q.Queue] {
						continue
					}
					seen[q.Queue] = true
					v, _ := f.value(q)
					m.sample(name, v, "queue", q.Queue)
				}
			}
		}
	}
}

// metricWriter writes the Prometheus text format: each family's HELP and
// TYPE (all gauges here: the intervals slide), then its samples.
type metricWriter struct {
	buf bytes.Buffer
}

func (m *metricWriter) family(name, help string) {
	m.buf.WriteString("# HELP ")
	m.buf.WriteString(name)
	m.buf.WriteByte(' ')
	m.buf.WriteString(escapeHelp(help))
	m.buf.WriteString("\n# TYPE ")
	m.buf.WriteString(name)
	m.buf.WriteString(" gauge\n")
}

// sample writes one sample; labels are name, value pairs.
func (m *metricWriter) sample(name string, v float64, labels ...string) {
	m.buf.WriteString(name)
	if len(labels) > 0 {
		m.buf.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.buf.WriteByte(',')
			}
			m.buf.WriteString(labels[i])
			m.buf.WriteString(`="`)
			m.buf.WriteString(escapeLabel(labels[i+1]))
			m.buf.WriteByte('"')
		}
		m.buf.WriteByte('}')
	}
	m.buf.WriteByte(' ')
	m.buf.WriteString(formatFloat(v))
	m.buf.WriteByte('\n')
}

// formatFloat writes a value as the format wants it: +Inf, -Inf, NaN, or
// the shortest decimal that reads back the same.
func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

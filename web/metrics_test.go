package web

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/routing"
)

// expo is an exposition parsed back: each sample by its name and labels
// as written ("name{a=\"x\",b=\"y\"}"), and each family's type.
type expo struct {
	samples map[string]float64
	types   map[string]string
	helps   map[string]string
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseExpo parses the Prometheus text format 0.0.4 strictly: comments
// are HELP or TYPE, each family is declared once before its samples, label
// values are quoted and escaped, values are floats, and no sample repeats.
func parseExpo(text string) (*expo, error) {
	e := &expo{samples: map[string]float64{}, types: map[string]string{}, helps: map[string]string{}}
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("does not end with a newline")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, a...))
		}
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kind, rest, _ := strings.Cut(rest, " ")
			name, doc, _ := strings.Cut(rest, " ")
			if !metricName.MatchString(name) {
				return nil, fail("bad metric name")
			}
			switch kind {
			case "HELP":
				if _, dup := e.helps[name]; dup {
					return nil, fail("HELP twice")
				}
				e.helps[name] = doc
			case "TYPE":
				if _, dup := e.types[name]; dup {
					return nil, fail("TYPE twice")
				}
				if doc != "gauge" && doc != "counter" {
					return nil, fail("type %q", doc)
				}
				e.types[name] = doc
			default:
				return nil, fail("comment neither HELP nor TYPE")
			}
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if !metricName.MatchString(name) {
			return nil, fail("bad metric name")
		}
		if _, ok := e.types[name]; !ok {
			return nil, fail("sample before its TYPE")
		}
		key := name
		if strings.HasPrefix(rest, "{") {
			end, labels, err := parseLabels(rest)
			if err != nil {
				return nil, fail("%v", err)
			}
			key += "{" + labels + "}"
			rest = rest[end:]
		}
		val, ok := strings.CutPrefix(rest, " ")
		if !ok || strings.Contains(val, " ") {
			return nil, fail("want one space then the value")
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fail("value: %v", err)
		}
		if _, dup := e.samples[key]; dup {
			return nil, fail("sample twice")
		}
		e.samples[key] = v
	}
	return e, nil
}

// parseLabels reads {a="x",b="y"} and returns where it ends and the labels
// unescaped as a="x",b="y".
func parseLabels(s string) (int, string, error) {
	var out []string
	i := 1
	for {
		j := strings.Index(s[i:], `="`)
		if j < 0 {
			return 0, "", errors.New("label without value")
		}
		name := s[i : i+j]
		if !labelName.MatchString(name) {
			return 0, "", fmt.Errorf("bad label name %q", name)
		}
		i += j + 2
		var v strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
				switch {
				case i >= len(s):
					return 0, "", errors.New("escape at the end")
				case s[i] == 'n':
					v.WriteByte('\n')
				case s[i] == '\\' || s[i] == '"':
					v.WriteByte(s[i])
				default:
					return 0, "", fmt.Errorf("bad escape \\%c", s[i])
				}
				continue
			}
			if s[i] == '\n' {
				return 0, "", errors.New("newline in a label value")
			}
			v.WriteByte(s[i])
		}
		if i >= len(s) {
			return 0, "", errors.New("unterminated label value")
		}
		out = append(out, fmt.Sprintf("%s=%q", name, v.String()))
		i++
		switch {
		case i < len(s) && s[i] == ',':
			i++
		case i < len(s) && s[i] == '}':
			return i + 1, strings.Join(out, ","), nil
		default:
			return 0, "", errors.New("want , or } after a label")
		}
	}
}

func TestMetrics(t *testing.T) {
	active := 7
	e := newDeskEnv(t, func(c *Config) { c.ActiveCalls = func() int { return active } })
	e.desk.stats = sampleStats()
	e.desk.SetAgentState(t.Context(), "alice", routing.AgentAvailable)
	e.desk.SetAgentState(t.Context(), "bob", routing.AgentAvailable)
	e.desk.offer("bob", "o1", call("c1"), 15*time.Second)
	e.desk.AcceptOffer(t.Context(), "bob", "o1", newFakeLeg())

	// No token: /metrics gives aggregates only.
	r := e.do(t, "", "GET", "/metrics", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	text := string(r.body)
	m, err := parseExpo(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want := map[string]float64{
		`ivrd_service_level_threshold_seconds`:                                            90,
		`ivrd_short_abandon_threshold_seconds`:                                            5,
		`ivrd_queue_service_level_ratio{queue="facturation",interval="today"}`:            0.8,
		`ivrd_queue_service_level_ratio{queue="support",interval="today"}`:                1,
		`ivrd_queue_service_level_ratio{queue="facturation",interval="15m"}`:              0,
		`ivrd_queue_abandon_rate_ratio{queue="facturation",interval="today"}`:             2.0 / 11,
		`ivrd_queue_asa_seconds{queue="facturation",interval="today"}`:                    42.5,
		`ivrd_queue_average_talk_seconds{queue="facturation",interval="today"}`:           185,
		`ivrd_queue_offered_contacts{queue="facturation",interval="today"}`:               11,
		`ivrd_queue_answered_contacts{queue="facturation",interval="today"}`:              9,
		`ivrd_queue_answered_in_threshold_contacts{queue="facturation",interval="today"}`: 8,
		`ivrd_queue_abandoned_contacts{queue="facturation",interval="today"}`:             2,
		`ivrd_queue_short_abandoned_contacts{queue="facturation",interval="today"}`:       1,
		`ivrd_queue_offered_contacts{queue="support",interval="15m"}`:                     0,
		`ivrd_queue_waiting_contacts{queue="facturation"}`:                                2,
		`ivrd_queue_waiting_contacts{queue="support"}`:                                    0,
		`ivrd_queue_longest_wait_seconds{queue="facturation"}`:                            83,
		`ivrd_service_level_ratio{interval="today"}`:                                      12.0 / 14,
		`ivrd_offered_contacts{interval="today"}`:                                         15,
		`ivrd_offered_contacts{interval="15m"}`:                                           1,
		`ivrd_waiting_contacts`:                                                           2,
		`ivrd_longest_wait_seconds`:                                                       83,
		`ivrd_agents{state="available"}`:                                                  1,
		`ivrd_agents{state="busy"}`:                                                       1,
		`ivrd_agents{state="signed_out"}`:                                                 1,
		`ivrd_agents{state="wrap_up"}`:                                                    0,
		`ivrd_active_calls`:                                                               7,
	}
	for k, v := range want {
		got, ok := m.samples[k]
		if !ok {
			t.Errorf("missing %s", k)
			continue
		}
		if math.Abs(got-v) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	// A ratio over nothing has no sample rather than a made-up value.
	for _, k := range []string{
		`ivrd_queue_service_level_ratio{queue="support",interval="15m"}`,
		`ivrd_queue_asa_seconds{queue="support",interval="15m"}`,
		`ivrd_queue_average_talk_seconds{queue="support",interval="today"}`,
	} {
		if _, ok := m.samples[k]; ok {
			t.Errorf("%s present for an empty denominator", k)
		}
	}
	for name, typ := range m.types {
		if typ != "gauge" || m.helps[name] == "" {
			t.Errorf("%s: type %s, help %q", name, typ, m.helps[name])
		}
	}
	// Aggregates only: no agent, caller or contact.
	for _, secret := range []string{"alice", "bob", "+33612345678", "c1", "48213"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics names %q", secret)
		}
	}

	e.desk.err = errors.New("database is locked")
	e.srv.statsCache = statsCache{} // figures older than statsTTL
	if r := e.do(t, "", "GET", "/metrics", ""); r.status != 500 || strings.Contains(string(r.body), "locked") {
		t.Errorf("stats failing: %d %s", r.status, r.body)
	}

	// Without routing, what there is.
	h := New(Config{ActiveCalls: func() int { return 3 }, Logger: quiet}).Handler()
	r = do(t, h, "GET", "/metrics", "")
	if m, err := parseExpo(string(r.body)); err != nil || len(m.samples) != 1 || m.samples["ivrd_active_calls"] != 3 {
		t.Errorf("without routing: %v %v\n%s", err, m, r.body)
	}
}

func TestMetricWriterEscapes(t *testing.T) {
	var m metricWriter
	m.family("ivrd_x", "a \\ b\nc")
	m.sample("ivrd_x", math.Inf(1), "queue", "a\"b\\c\nd")
	m.sample("ivrd_x", math.NaN(), "queue", "e")
	m.sample("ivrd_x", 1e-7, "queue", "f")
	text := m.buf.String()
	want := "# HELP ivrd_x a \\\\ b\\nc\n# TYPE ivrd_x gauge\n" +
		"ivrd_x{queue=\"a\\\"b\\\\c\\nd\"} +Inf\nivrd_x{queue=\"e\"} NaN\nivrd_x{queue=\"f\"} 1e-07\n"
	if text != want {
		t.Errorf("got\n%s\nwant\n%s", text, want)
	}
	e, err := parseExpo(text)
	if err != nil {
		t.Fatal(err)
	}
	if v := e.samples[`ivrd_x{queue="a\"b\\c\nd"}`]; !math.IsInf(v, 1) {
		t.Errorf("escaped label read back: %v", e.samples)
	}
}

// The parser of the test refuses what Prometheus would.
func TestParseExpoRefuses(t *testing.T) {
	for _, text := range []string{
		"ivrd_x 1\n",
		"# TYPE ivrd_x gauge\nivrd_x{queue=\"a} 1\n",
		"# TYPE ivrd_x gauge\nivrd_x{queue=a} 1\n",
		"# TYPE ivrd_x gauge\nivrd_x one\n",
		"# TYPE ivrd_x gauge\nivrd_x 1\nivrd_x 2\n",
		"# TYPE ivrd_x gauge\n# TYPE ivrd_x gauge\n",
		"# TYPE ivrd_x gauge\nivrd_x 1",
		"# TYPE ivrd_x histogram\n",
		"# TYPE ivrd_x gauge\nivrd_x{queue=\"a\\t\"} 1\n",
	} {
		if _, err := parseExpo(text); err == nil {
			t.Errorf("accepted %q", text)
		}
	}
}

// The service figures are computed once a second at most, whoever asks.
func TestStatsCached(t *testing.T) {
	e := newDeskEnv(t)
	for range 3 {
		e.do(t, "", "GET", "/metrics", "")
		e.do(t, "dpo", "GET", "/api/stats", "")
	}
	if n := e.desk.statsCalls(); n != 1 {
		t.Errorf("stats computed %d times in a second, want 1", n)
	}
}

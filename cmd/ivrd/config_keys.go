package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// configKey is one key of the configuration and the Go type it decodes to.
// Lists and maps are keys of their own; their items are not walked.
type configKey struct {
	key string
	typ reflect.Type
}

var durationType = reflect.TypeFor[time.Duration]()

// configKeys lists the keys of a section type (Config for the whole
// configuration), prefixed with the section's key.
func configKeys(t reflect.Type, prefix string) []configKey {
	var out []configKey
	for f := range fieldsOf(t) {
		key := prefix + f.tag
		if f.typ.Kind() == reflect.Struct && f.typ != durationType {
			out = append(out, configKeys(f.typ, key+".")...)
			continue
		}
		out = append(out, configKey{key, f.typ})
	}
	return out
}

type field struct {
	tag   string
	index int
	typ   reflect.Type
}

// fieldsOf yields the exported fields of a struct that have a key.
func fieldsOf(t reflect.Type) func(func(field) bool) {
	return func(yield func(field) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			if !yield(field{tag, i, f.Type}) {
				return
			}
		}
	}
}

// envName is the environment variable of a key: IVRD_SIP_UDP for sip.udp.
func envName(key string) string {
	return "IVRD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setEnvLists sets the list and map keys given in the environment, which
// viper would hand over as one string: lists of strings comma-separated
// (or a JSON list), lists of objects and maps as JSON. An empty variable
// is ignored, like those of the other keys.
func setEnvLists(v *viper.Viper) error {
	for _, k := range configKeys(reflect.TypeFor[Config](), "") {
		kind := k.typ.Kind()
		if kind != reflect.Slice && kind != reflect.Map {
			continue
		}
		name := envName(k.key)
		raw, ok := os.LookupEnv(name)
		if !ok || strings.TrimSpace(raw) == "" {
			continue
		}
		val, err := parseEnvList(k.typ, raw)
		if err != nil {
			return bad(k.key, "%s: %v", name, err)
		}
		v.Set(k.key, val)
	}
	return nil
}

func parseEnvList(t reflect.Type, raw string) (any, error) {
	raw = strings.TrimSpace(raw)
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String && !strings.HasPrefix(raw, "[") {
		var items []string
		for s := range strings.SplitSeq(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		return items, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var val any
	err := dec.Decode(&val)
	if err == nil && dec.More() {
		err = fmt.Errorf("more after the JSON value")
	}
	_, isList := val.([]any)
	_, isMap := val.(map[string]any)
	if err == nil && (t.Kind() == reflect.Slice && !isList || t.Kind() == reflect.Map && !isMap) {
		err = fmt.Errorf("not a JSON %s", map[bool]string{true: "list", false: "object"}[t.Kind() == reflect.Slice])
	}
	if err != nil {
		return nil, fmt.Errorf("want %s, like '%s': %v", jsonKind(t), jsonExample(t), err)
	}
	return val, nil
}

func jsonKind(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "a comma-separated list or a JSON list of strings"
	case t.Kind() == reflect.Slice:
		return "a JSON list of objects"
	default:
		return "a JSON object"
	}
}

// jsonExample shows the shape of a JSON value of type t.
func jsonExample(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "[" + jsonExample(t.Elem()) + "]"
	case reflect.Map:
		return `{"<name>":` + jsonExample(t.Elem()) + "}"
	case reflect.Struct:
		var keys []string
		for f := range fieldsOf(t) {
			keys = append(keys, strconv.Quote(f.tag)+":…")
			if len(keys) == 2 {
				keys = append(keys, "…")
				break
			}
		}
		return "{" + strings.Join(keys, ",") + "}"
	default:
		return `"…"`
	}
}

// checkDurations refuses, naming the key, every duration of the settings
// that is not a Go duration; a plain number such as 30 would otherwise be
// read as 30 ns. A plain 0 is a duration of 0.
func checkDurations(settings map[string]any) error {
	return checkDurationsIn(reflect.TypeFor[Config](), "", settings)
}

func checkDurationsIn(t reflect.Type, key string, val any) error {
	switch {
	case t == durationType:
		return checkDuration(key, val)
	case t.Kind() == reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			return nil // the decoder says what is wrong
		}
		for f := range fieldsOf(t) {
			if v, has := lookupFold(m, f.tag); has {
				if err := checkDurationsIn(f.typ, joinKey(key, f.tag), v); err != nil {
					return err
				}
			}
		}
	case t.Kind() == reflect.Slice:
		items, _ := val.([]any)
		for i, v := range items {
			if err := checkDurationsIn(t.Elem(), fmt.Sprintf("%s[%d]", key, i), v); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map:
		m, _ := val.(map[string]any)
		for k, v := range m {
			if err := checkDurationsIn(t.Elem(), joinKey(key, k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func checkDuration(key string, val any) error {
	var s string
	switch v := val.(type) {
	case nil, time.Duration:
		return nil
	case string:
		s = strings.TrimSpace(v)
	case json.Number:
		s = v.String()
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		s = fmt.Sprint(v)
	default:
		return bad(key, "%v is not a duration; write e.g. 30s, 2m or 500ms", val)
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n == 0 {
			return nil
		}
		return bad(key, "%s has no unit; write %ss", s, s)
	}
	if _, err := time.ParseDuration(s); err != nil {
		return bad(key, "%q is not a duration; write e.g. 30s, 2m or 500ms", s)
	}
	return nil
}

// durationLimit bounds a duration key.
type durationLimit struct {
	key      string
	min, max time.Duration
	// zero says what 0 means when 0 is allowed below min; "" when it is not.
	zero string
	// why a value out of bounds is refused.
	why string
}

// durationLimits bounds every duration key but those of routing, which
// routing.Config.Validate bounds.
var durationLimits = []durationLimit{
	{key: "sip.media_timeout", min: 5 * time.Second, max: 10 * time.Minute, zero: "disables",
		why: "RTP comes every 20 ms: shorter hangs up calls on a brief network stall; longer keeps dead calls and their agents; 0 disables"},
	{key: "sip.tcp_idle_timeout", min: 10 * time.Second, max: 24 * time.Hour,
		why: "shorter closes a phone's connection between its requests; idle TCP connections must be closed"},
	{key: "sip.trunk.ring_timeout", min: 5 * time.Second, max: 2 * time.Minute,
		why: "as a callback node's ring_timeout"},
	{key: "sip.flood.ban", min: time.Second, max: 24 * time.Hour,
		why: "a flood resumes at once after a shorter ban; a longer one locks a mistaken trunk out for a day"},
	{key: "ari.reconnect_min", min: 100 * time.Millisecond, max: time.Minute,
		why: "shorter hammers a restarting Asterisk; longer leaves calls unanswered"},
	{key: "ari.reconnect_max", min: 100 * time.Millisecond, max: 10 * time.Minute,
		why: "longer leaves calls unanswered long after Asterisk is back"},
	{key: "ari.hold_announce", min: 10 * time.Second, max: time.Hour, zero: "announces once",
		why: "the hold prompt needs time to play, and music between two"},
	{key: "ari.callback_ring_timeout", min: 5 * time.Second, max: 2 * time.Minute,
		why: "as a callback node's ring_timeout"},
	{key: "recordings.purge_interval", min: time.Minute, max: 24 * time.Hour,
		why: "shorter runs the purge for nothing; longer leaves recordings a purge could not delete too long"},
	{key: "shutdown.drain", min: 0, max: time.Hour,
		why: "0 hangs up calls at once; a stop should not wait longer"},
}

// checkDurationLimits refuses a duration out of its bounds, naming the key.
func (c *Config) checkDurationLimits() error {
	for _, l := range durationLimits {
		d, ok := durationAt(reflect.ValueOf(c).Elem(), l.key)
		if !ok {
			return bad(l.key, "no such duration key") // a stale limit
		}
		if (d >= l.min && d <= l.max) || (d == 0 && l.zero != "") {
			continue
		}
		want := fmt.Sprintf("%s to %s", shortDuration(l.min), shortDuration(l.max))
		if l.zero != "" {
			want = fmt.Sprintf("0 (%s) or %s", l.zero, want)
		}
		return bad(l.key, "%s: want %s (%s)", shortDuration(d), want, l.why)
	}
	return nil
}

// durationAt is the duration of a key of c.
func durationAt(v reflect.Value, key string) (time.Duration, bool) {
	head, rest, more := strings.Cut(key, ".")
	for f := range fieldsOf(v.Type()) {
		if f.tag != head {
			continue
		}
		fv := v.Field(f.index)
		if more {
			if fv.Kind() != reflect.Struct {
				return 0, false
			}
			return durationAt(fv, rest)
		}
		if fv.Type() != durationType {
			return 0, false
		}
		return time.Duration(fv.Int()), true
	}
	return 0, false
}

// shortDuration writes 10m and 24h rather than 10m0s and 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

package loader

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ivrd/ivrd/ivr"
)

// calendars decodes a `calendars:` mapping of name -> calendar.
func (d *decoder) calendars(n *yaml.Node, into map[string]*ivr.Calendar, where map[string]ivr.Position) {
	ps, ok := d.pairs(n, "calendars")
	if !ok {
		return
	}
	for _, p := range ps {
		name, ok := d.name(p.key, "calendar")
		if !ok {
			continue
		}
		if c := d.calendar(name, p.val); c != nil {
			into[name] = c
			where[name] = d.at(p.key)
		}
	}
}

func (d *decoder) calendar(name string, n *yaml.Node) *ivr.Calendar {
	what := "calendar " + name
	fs, ok := d.fields(n, what, "timezone", "hours", "holidays", "description")
	if !ok {
		return nil
	}
	if !d.require(d.resolve(n), fs, what, "timezone", "hours") {
		return nil
	}
	c := &ivr.Calendar{Name: name, Holidays: map[string]bool{}}
	ok = true
	if tz, good := d.text(fs["timezone"].val, "timezone"); good {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			d.errorf(fs["timezone"].val, "timezone: unknown time zone %q (want e.g. Europe/Paris)", tz)
			ok = false
		}
		c.Location = loc
	} else {
		ok = false
	}
	if !d.weekly(fs["hours"].val, &c.Weekly) {
		ok = false
	}
	if p, has := fs["holidays"]; has {
		items, good := d.list(p.val, "holidays")
		ok = ok && good
		for _, it := range items {
			s, good := d.text(it, "holiday")
			if !good {
				ok = false
				continue
			}
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				d.errorf(it, "holiday: bad date %q (want YYYY-MM-DD)", s)
				ok = false
				continue
			}
			c.Holidays[s] = true
		}
	}
	if !ok {
		return nil
	}
	return c
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// weekly decodes `hours:`: day specs ("mon", "mon-fri", "sat,sun") mapped to
// comma-separated HH:MM-HH:MM ranges, or "closed".
func (d *decoder) weekly(n *yaml.Node, w *[7][]ivr.TimeRange) bool {
	ps, ok := d.pairs(n, "hours")
	if !ok {
		return false
	}
	var seen [7]bool
	for _, p := range ps {
		days, err := parseDays(p.key.Value)
		if err != nil {
			d.errorf(p.key, "hours: %v", err)
			ok = false
			continue
		}
		s, good := d.scalar(p.val, "hours")
		if !good {
			ok = false
			continue
		}
		ranges, err := parseRanges(s)
		if err != nil {
			d.errorf(p.val, "hours: %v", err)
			ok = false
			continue
		}
		for _, day := range days {
			if seen[day] {
				d.errorf(p.key, "hours: %s is given twice", strings.ToLower(day.String()[:3]))
				ok = false
				continue
			}
			seen[day] = true
			w[day] = ranges
		}
	}
	return ok
}

func parseDays(spec string) ([]time.Weekday, error) {
	var out []time.Weekday
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		from, to, isRange := strings.Cut(part, "-")
		a, ok1 := dayNames[from]
		b, ok2 := dayNames[to]
		switch {
		case !isRange && ok1:
			out = append(out, a)
		case isRange && ok1 && ok2:
			// Ranges may wrap around the week end: fri-mon.
			for day := a; ; day = (day + 1) % 7 {
				out = append(out, day)
				if day == b {
					break
				}
			}
		default:
			return nil, fmt.Errorf("bad days %q (want mon, mon-fri or sat,sun)", spec)
		}
	}
	return out, nil
}

// parseRanges parses "09:00-12:30, 13:30-18:00" or "closed".
func parseRanges(s string) ([]ivr.TimeRange, error) {
	s = strings.TrimSpace(s)
	if s == "closed" || s == "" {
		return nil, nil
	}
	var out []ivr.TimeRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		a, b, ok := strings.Cut(part, "-")
		from, err1 := parseClock(a)
		to, err2 := parseClock(b)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad hours %q (want HH:MM-HH:MM, comma separated, or closed)", part)
		}
		if from >= to {
			return nil, fmt.Errorf("bad hours %q: ends before it starts", part)
		}
		if n := len(out); n > 0 && from < out[n-1].To {
			return nil, fmt.Errorf("bad hours %q: overlaps or precedes the previous range", part)
		}
		out = append(out, ivr.TimeRange{From: from, To: to})
	}
	return out, nil
}

// parseClock parses HH:MM, up to 24:00, into minutes from midnight.
func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	t, err := time.Parse("15:04", s)
	if err == nil && len(s) == 5 {
		return t.Hour()*60 + t.Minute(), nil
	}
	if s == "24:00" {
		return 24 * 60, nil
	}
	return 0, fmt.Errorf("bad time %q", s)
}

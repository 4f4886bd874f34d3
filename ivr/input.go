package ivr

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Defaults of Input and CollectNode fields left at zero.
const (
	defaultTimeout           = 5 * time.Second
	defaultInterDigitTimeout = 3 * time.Second
	defaultTries             = 3
	defaultMinDigits         = 1
	defaultMaxDigits         = 20
)

func (in *Input) timeout() time.Duration {
	if in.Timeout > 0 {
		return in.Timeout
	}
	return defaultTimeout
}

func (in *Input) interDigitTimeout() time.Duration {
	if in.InterDigitTimeout > 0 {
		return in.InterDigitTimeout
	}
	return defaultInterDigitTimeout
}

func (in *Input) tries() int {
	if in.Tries > 0 {
		return in.Tries
	}
	return defaultTries
}

// inputPrompt plays the prompt of try (retry_prompt from the 2nd try),
// unless a key is already buffered and the prompt is interruptible (rule 3).
func (s *session) inputPrompt(ctx context.Context, in *Input, try int) error {
	p := in.Prompt
	if try > 1 && len(in.RetryPrompt) > 0 {
		p = in.RetryPrompt
	}
	if in.Interruptible && len(s.buf) > 0 {
		return nil
	}
	_, err := s.prompt(ctx, p, in.Interruptible)
	return err
}

// failed handles a failed try (rule 6): it discards stale keys, then plays
// the invalid or no-input prompt; keys typed from then on are kept. It
// reports whether tries remain.
func (s *session) failed(ctx context.Context, in *Input, try int, p Prompt) (bool, error) {
	s.flush()
	if _, err := s.prompt(ctx, p, in.Interruptible); err != nil {
		return false, err
	}
	return try < in.tries(), nil
}

// giveUp goes to on_failure, or says goodbye and ends the call.
func (s *session) giveUp(ctx context.Context, in *Input) (string, error) {
	s.result("failed")
	if in.OnFailure != "" {
		return in.OnFailure, nil
	}
	if bye, ok := s.flow.Vocabulary[WordGoodbye]; ok {
		if _, err := s.prompt(ctx, Prompt{{Audio: &bye}}, false); err != nil {
			return "", err
		}
	}
	return "", nil
}

// operator returns the operator node when d is the flow's operator key.
func (s *session) operator(d rune) string {
	op := s.flow.Operator
	if op.Key != 0 && d == op.Key {
		return op.Goto
	}
	return ""
}

// firstKey returns the first buffered key or waits for one until the
// no-input timeout, started now (rule 5).
func (s *session) firstKey(ctx context.Context, in *Input) (key, bool, error) {
	if len(s.buf) > 0 {
		return s.pop(), true, nil
	}
	d := in.timeout()
	t := s.timer(d)
	ev, err := s.waitKey(ctx, t, d, WaitInput)
	t.Stop()
	if err != nil || ev == evTimeout {
		return key{}, false, err
	}
	return s.pop(), true, nil
}

func (s *session) menu(ctx context.Context, n *Node) (string, error) {
	m := n.Menu
	in := &m.Input
	if in.TypeAhead == TypeAheadFlush {
		s.flush()
	}
	for try := 1; ; try++ {
		if err := s.inputPrompt(ctx, in, try); err != nil {
			return "", err
		}
		k, ok, err := s.firstKey(ctx, in)
		if err != nil {
			return "", err
		}
		fail := in.NoInputPrompt
		if ok {
			d := k.Digit
			if opt, found := m.Options[d]; found {
				s.result("key " + string(d))
				s.log.Info("menu choice", "node", n.Name, "key", string(d))
				s.assign(opt.Set)
				return opt.Goto, nil
			}
			if op := s.operator(d); op != "" {
				s.result("operator")
				s.log.Info("operator key", "node", n.Name)
				return op, nil
			}
			s.result("invalid " + string(d))
			fail = in.InvalidPrompt
		} else {
			s.result("no input")
		}
		more, err := s.failed(ctx, in, try, fail)
		if err != nil {
			return "", err
		}
		if !more {
			return s.giveUp(ctx, in)
		}
	}
}

// How a collect entry ended.
const (
	endMax        = "max digits"
	endTerminator = "terminator"
	endTimeout    = "inter-digit timeout"
	endNoInput    = "no input"
	endOperator   = "operator"
)

func (s *session) collect(ctx context.Context, n *Node) (string, error) {
	c := n.Collect
	in := &c.Input
	if in.TypeAhead == TypeAheadFlush {
		s.flush()
	}
	if c.Sensitive {
		s.pauseSensitive(n.Name)
		defer s.resumeSensitive(n.Name)
	}
	for try := 1; ; try++ {
		if err := s.inputPrompt(ctx, in, try); err != nil {
			return "", err
		}
		digits, end, err := s.entry(ctx, c)
		if err != nil {
			return "", err
		}
		shown := digits
		if c.Sensitive {
			shown = strings.Repeat("*", len(digits))
		}
		fail := in.InvalidPrompt
		switch {
		case end == endOperator:
			s.result("operator")
			s.log.Info("operator key", "node", n.Name)
			return s.flow.Operator.Goto, nil
		case end == endNoInput:
			s.result(endNoInput)
			fail = in.NoInputPrompt
		case validEntry(c, digits):
			s.vars[c.Var] = digits
			if c.Sensitive {
				s.sensitive[c.Var] = true
			} else {
				delete(s.sensitive, c.Var)
			}
			s.result("collected " + shown + " (" + end + ")")
			s.log.Info("collected", "node", n.Name, "var", c.Var, "value", shown, "end", end)
			return n.Next, nil
		default:
			s.result("invalid " + shown)
		}
		more, err := s.failed(ctx, in, try, fail)
		if err != nil {
			return "", err
		}
		if !more {
			return s.giveUp(ctx, in)
		}
	}
}

// entry reads one entry of a collect (rules 5, 7, 8 and 9).
func (s *session) entry(ctx context.Context, c *CollectNode) (string, string, error) {
	maxDigits := c.MaxDigits
	if maxDigits <= 0 {
		maxDigits = defaultMaxDigits
	}
	var digits []rune
	for {
		for len(s.buf) > 0 {
			k := s.pop()
			if c.Terminator != 0 && k.Digit == c.Terminator {
				return string(digits), endTerminator, nil
			}
			if len(digits) == 0 && s.operator(k.Digit) != "" {
				return "", endOperator, nil
			}
			if c.Sensitive {
				s.mask(k)
			}
			digits = append(digits, k.Digit)
			if len(digits) >= maxDigits {
				return string(digits), endMax, nil
			}
		}
		d, what := c.timeout(), WaitInput
		if len(digits) > 0 {
			d, what = c.interDigitTimeout(), WaitDigits
		}
		t := s.timer(d)
		ev, err := s.waitKey(ctx, t, d, what)
		t.Stop()
		if err != nil {
			return "", "", err
		}
		if ev == evTimeout {
			if len(digits) == 0 {
				return "", endNoInput, nil
			}
			return string(digits), endTimeout, nil
		}
	}
}

// waitKey waits for a key or the timer.
func (s *session) waitKey(ctx context.Context, t Timer, d time.Duration, what WaitFor) (event, error) {
	for {
		ev, err := s.wait(ctx, waitSpec{timer: t, timeout: d, what: what})
		if err != nil || ev == evKey || ev == evTimeout {
			return ev, err
		}
	}
}

// validEntry checks an entry against min_digits, max_digits and pattern.
func validEntry(c *CollectNode, digits string) bool {
	minDigits := c.MinDigits
	if minDigits <= 0 {
		minDigits = defaultMinDigits
	}
	maxDigits := c.MaxDigits
	if maxDigits <= 0 {
		maxDigits = defaultMaxDigits
	}
	if len(digits) < minDigits || len(digits) > maxDigits {
		return false
	}
	if c.Pattern != nil {
		return fullMatch(c.Pattern, digits)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// fullMatch reports whether re matches all of s, whether or not the flow's
// author wrote ^ and $: with leftmost-longest matching, a match of the whole
// string exists only if the longest match at 0 spans it.
func fullMatch(re *regexp.Regexp, s string) bool {
	l := *re // copying a Regexp is safe; Longest must not touch the shared one
	l.Longest()
	loc := l.FindStringIndex(s)
	return loc != nil && loc[0] == 0 && loc[1] == len(s)
}

package loader

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ivrd/ivrd/ivr"
)

// Bounds of a callback node's settings.
const (
	maxCallbackAttempts = 10
	minCallbackRetry    = 10 * time.Second
	minCallbackRing     = 5 * time.Second
	maxCallbackRing     = 2 * time.Minute
	maxCallbackDigits   = 20
)

// callbackVars are the variables a callback node sets.
var callbackVars = []string{ivr.VarCallbackNumber, ivr.VarCallbackMinutes, ivr.VarCallbackHour, ivr.VarCallbackMinute, ivr.VarCallbackSlot}

var callbackKeys = []string{
	"queue", "intent", "priority", "skills", "number", "confirm", "prompt", "ask_prompt",
	"min_digits", "max_digits", "done_prompt", "later_prompt", "existing_prompt",
	"kept_prompt", "cancelled_prompt", "failure_prompt", "greeting", "hold", "calendar",
	"max_attempts", "retry_delay", "ring_timeout", "mode", "record", "on_failure",
	"ask_slot", "slot_prompt", "slot_ask_prompt",
}

// callback decodes a callback node. Its prompts default to the texts of
// the flow's language.
func (p *flowParser) callback(name string, n *yaml.Node, pos ivr.Position) *ivr.CallbackNode {
	what := "callback " + name
	c := &ivr.CallbackNode{
		MaxAttempts: ivr.DefaultCallbackAttempts,
		RetryDelay:  ivr.DefaultCallbackRetryDelay,
		RingTimeout: ivr.DefaultCallbackRingTimeout,
		Mode:        ivr.CallbackAgentFirst,
		MinDigits:   ivr.DefaultCallbackMinDigits,
		MaxDigits:   ivr.DefaultCallbackMaxDigits,
	}
	var fs map[string]pair
	if r := p.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		fs = map[string]pair{}
	} else {
		var ok bool
		if fs, ok = p.fields(n, what, callbackKeys...); !ok {
			return c
		}
	}
	if kv, has := fs["queue"]; has {
		c.Queue, _ = p.name(kv.val, "queue")
	}
	if kv, has := fs["intent"]; has {
		if s, ok := p.scalar(kv.val, "intent"); ok {
			p.template(kv.val, s)
			c.Intent = s
		}
	}
	if kv, has := fs["priority"]; has {
		c.Priority, _ = p.integer(kv.val, "priority")
	}
	if kv, has := fs["skills"]; has {
		c.Skills, _ = p.strings(kv.val, "skills")
	}
	if kv, has := fs["number"]; has {
		if s, ok := p.scalar(kv.val, "number"); ok {
			p.template(kv.val, s)
			c.Number = s
		}
	}
	if kv, has := fs["min_digits"]; has {
		if v, ok := p.integer(kv.val, "min_digits"); ok {
			if v < 1 || v > maxCallbackDigits {
				p.errorf(kv.val, "min_digits: want 1 to %d, got %d", maxCallbackDigits, v)
			}
			c.MinDigits = v
		}
	}
	if kv, has := fs["max_digits"]; has {
		if v, ok := p.integer(kv.val, "max_digits"); ok {
			if v < c.MinDigits || v > maxCallbackDigits {
				p.errorf(kv.val, "max_digits: want %d (min_digits) to %d, got %d", c.MinDigits, maxCallbackDigits, v)
			}
			c.MaxDigits = v
		}
	}
	if kv, has := fs["calendar"]; has {
		if cal, ok := p.name(kv.val, "calendar"); ok {
			c.Calendar = cal
			p.pf.calUses = append(p.pf.calUses, use{cal, p.at(kv.val)})
		}
	}
	if kv, has := fs["max_attempts"]; has {
		if v, ok := p.integer(kv.val, "max_attempts"); ok {
			if v < 1 || v > maxCallbackAttempts {
				p.errorf(kv.val, "max_attempts: want 1 to %d, got %d", maxCallbackAttempts, v)
			}
			c.MaxAttempts = v
		}
	}
	if kv, has := fs["retry_delay"]; has {
		if d, ok := p.duration(kv.val, "retry_delay"); ok {
			if d < minCallbackRetry {
				p.errorf(kv.val, "retry_delay: %s is too short (at least %s: a customer who just missed the call needs time)", d, minCallbackRetry)
			}
			c.RetryDelay = d
		}
	}
	if kv, has := fs["ring_timeout"]; has {
		if d, ok := p.duration(kv.val, "ring_timeout"); ok {
			if d < minCallbackRing || d > maxCallbackRing {
				p.errorf(kv.val, "ring_timeout: want %s to %s, got %s", minCallbackRing, maxCallbackRing, d)
			}
			c.RingTimeout = d
		}
	}
	if kv, has := fs["mode"]; has {
		if s, ok := p.scalar(kv.val, "mode"); ok {
			switch s {
			case ivr.CallbackAgentFirst, ivr.CallbackCallerFirst:
				c.Mode = s
			default:
				p.errorf(kv.val, "mode: want %s or %s, got %q", ivr.CallbackAgentFirst, ivr.CallbackCallerFirst, s)
			}
		}
	}
	if kv, has := fs["record"]; has {
		c.Record, _ = p.boolean(kv.val, "record")
	}
	if kv, has := fs["on_failure"]; has {
		if to, ok := p.name(kv.val, "on_failure"); ok {
			c.OnFailure = to
			p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(kv.val)})
		}
	}
	for _, v := range callbackVars {
		p.pf.varSets[v] = true
	}

	lang := p.pf.flow.Language
	texts, hasTexts := ivr.CallbackTexts(lang)
	prompt := func(key string, def string) ivr.Prompt {
		if kv, has := fs[key]; has {
			return p.prompt(kv.val, key)
		}
		if !hasTexts {
			p.errorf(p.resolve(n), "%s: no default texts in language %q: write its %s", what, lang, key)
			return nil
		}
		return p.defaultText(def, pos)
	}
	confirm := true
	if kv, has := fs["confirm"]; has {
		confirm, _ = p.boolean(kv.val, "confirm")
	}
	choice := func(node, key, def string) *ivr.Node {
		in := p.defaults
		in.Prompt = prompt(key, def)
		in.RetryPrompt, in.InvalidPrompt = nil, nil
		in.OnFailure = ivr.CallbackTargetFailure
		in.TypeAhead = ivr.TypeAheadFlush
		return &ivr.Node{Name: name, Kind: ivr.KindMenu, Pos: pos, Menu: &ivr.MenuNode{Input: in, Options: map[rune]ivr.MenuOption{
			ivr.CallbackConfirmKey: {Goto: ivr.CallbackTargetConfirm},
			ivr.CallbackChangeKey:  {Goto: ivr.CallbackTargetChange},
		}}}
	}
	if confirm {
		c.Confirm = choice(name, "prompt", texts.Confirm)
	} else if kv, has := fs["prompt"]; has {
		p.errorf(kv.key, "%s: prompt reads the number back to confirm it; it needs confirm: true", what)
	}
	ask := p.defaults
	ask.Prompt = prompt("ask_prompt", texts.Ask)
	ask.RetryPrompt = nil
	if hasTexts {
		ask.InvalidPrompt = p.defaultText(texts.Invalid, pos)
	}
	ask.OnFailure = ivr.CallbackTargetFailure
	ask.TypeAhead = ivr.TypeAheadFlush
	c.Ask = &ivr.Node{Name: name, Kind: ivr.KindCollect, Pos: pos, Next: ivr.CallbackTargetConfirm, Collect: &ivr.CollectNode{
		Input: ask, Var: ivr.VarCallbackNumber, MinDigits: c.MinDigits, MaxDigits: c.MaxDigits, Terminator: '#',
	}}
	c.Existing = choice(name, "existing_prompt", texts.Existing)
	askSlot := false
	if kv, has := fs["ask_slot"]; has {
		askSlot, _ = p.boolean(kv.val, "ask_slot")
	}
	if askSlot {
		c.Slot = choice(name, "slot_prompt", texts.Slot)
		hour := p.defaults
		hour.Prompt = prompt("slot_ask_prompt", texts.SlotAsk)
		hour.RetryPrompt = nil
		if hasTexts {
			hour.InvalidPrompt = p.defaultText(texts.BadHour, pos)
		}
		hour.OnFailure = ivr.CallbackTargetFailure
		hour.TypeAhead = ivr.TypeAheadFlush
		c.SlotAsk = &ivr.Node{Name: name, Kind: ivr.KindCollect, Pos: pos, Next: ivr.CallbackTargetConfirm, Collect: &ivr.CollectNode{
			Input: hour, Var: ivr.VarCallbackSlot, MinDigits: 1, MaxDigits: 2, Terminator: '#',
		}}
	} else {
		for _, k := range []string{"slot_prompt", "slot_ask_prompt"} {
			if kv, has := fs[k]; has {
				p.errorf(kv.key, "%s: %s needs ask_slot: true", what, k)
			}
		}
	}
	c.Done = prompt("done_prompt", texts.Done)
	c.Later = prompt("later_prompt", texts.Later)
	c.Kept = prompt("kept_prompt", texts.Kept)
	c.Cancelled = prompt("cancelled_prompt", texts.Cancelled)
	c.Failure = prompt("failure_prompt", texts.Failure)
	c.Greeting = prompt("greeting", texts.Greeting)
	c.Hold = prompt("hold", texts.Hold)
	if c.Record {
		c.Consent = &ivr.ConsentNode{RefuseKey: ivr.DefaultRefuseKey, Window: ivr.DefaultConsentWindow}
		notice, refused, ok := ivr.ConsentTexts(lang, c.Consent.RefuseKey)
		if !ok {
			p.errorf(p.resolve(n), "%s: record: true needs the recording notice, and language %q has no default", what, lang)
		} else {
			c.Consent.Prompt = p.defaultSay(notice, pos)
			c.Consent.RefusedPrompt = p.defaultSay(refused, pos)
		}
	}
	return c
}

// defaultText is a default text with ${var} parts: the callback number is
// read digit by digit, other variables as numbers, the rest rendered like
// `say:` parts.
func (p *flowParser) defaultText(text string, pos ivr.Position) ivr.Prompt {
	var out ivr.Prompt
	for text != "" {
		i := strings.Index(text, "${")
		if i < 0 {
			out = append(out, p.defaultSay(text, pos)...)
			break
		}
		if s := strings.TrimSpace(text[:i]); s != "" {
			out = append(out, p.defaultSay(s, pos)...)
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			panic(fmt.Sprintf("default text %q: unclosed ${", text)) // a bug in the texts
		}
		v := text[i : i+j+1]
		if v == "${"+ivr.VarCallbackNumber+"}" {
			out = append(out, ivr.PromptPart{Digits: v})
		} else {
			out = append(out, ivr.PromptPart{Number: v})
		}
		text = strings.TrimLeft(text[i+j+1:], " ")
	}
	return out
}

// queueCallback decodes a queue node's callback settings.
func (p *flowParser) queueCallback(name string, fs map[string]pair, q *ivr.QueueNode, pos ivr.Position) {
	what := "queue " + name
	kv, has := fs["callback"]
	if !has {
		for _, k := range []string{"callback_key", "offer_callback_after", "callback_prompt"} {
			if kv, has := fs[k]; has {
				p.errorf(kv.key, "%s: %s needs callback (the callback node to go to)", what, k)
			}
		}
		return
	}
	to, ok := p.name(kv.val, "callback")
	if !ok {
		return
	}
	q.Callback = to
	q.CallbackKey = ivr.DefaultCallbackKey
	p.pf.edges = append(p.pf.edges, edge{from: name, to: to, pos: p.at(kv.val), input: true})
	p.pf.callbackRefs = append(p.pf.callbackRefs, use{to, p.at(kv.val)})
	if kv, has := fs["callback_key"]; has {
		if k, ok := p.dtmfKey(kv.val, "callback_key"); ok {
			q.CallbackKey = k
		}
	}
	if kv, has := fs["offer_callback_after"]; has {
		if d, ok := p.duration(kv.val, "offer_callback_after"); ok {
			if d < 0 {
				p.errorf(kv.val, "offer_callback_after: must not be negative")
			}
			q.OfferCallbackAfter = d
		}
	}
	if kv, has := fs["callback_prompt"]; has {
		q.CallbackOffer = p.prompt(kv.val, "callback_prompt")
	} else if texts, ok := ivr.CallbackTexts(p.pf.flow.Language); ok {
		q.CallbackOffer = p.defaultText(fmt.Sprintf(texts.Offer, keyWord(p.pf.flow.Language, q.CallbackKey)), pos)
	} else if q.OfferCallbackAfter > 0 {
		p.errorf(kv.key, "%s: no default callback offer in language %q: write callback_prompt", what, p.pf.flow.Language)
	}
}

// keyWord names a key in a prompt ("1", "étoile").
func keyWord(lang string, k rune) string {
	switch k {
	case '*':
		if lang == "fr" {
			return "étoile"
		}
		return "star"
	case '#':
		if lang == "fr" {
			return "dièse"
		}
		return "hash"
	}
	return string(k)
}

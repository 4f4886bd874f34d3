package ivr

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Defaults of ConsentNode fields left at zero.
const (
	DefaultRefuseKey     = '9'
	DefaultConsentWindow = 3 * time.Second
)

// consentSaveTimeout bounds the storing of an answer. The answer is stored
// even when the caller hangs up right after giving it: the audit row is
// owed either way.
const consentSaveTimeout = 5 * time.Second

// Default texts of a consent node, by language. The notice follows the
// wording French callers know ("Dans le cadre de notre politique
// d'amélioration de nos services, cet appel est susceptible d'être
// enregistré") and, as the law asks, names the way to refuse.
var consentTexts = map[string]struct {
	notice, refuse, refused string
	keys                    map[rune]string
}{
	frenchLang: {
		notice: "Dans le cadre de notre politique d'amélioration de nos services, cet appel est susceptible d'être enregistré. " +
			"En restant en ligne, vous donnez votre consentement.",
		refuse:  " Pour vous opposer à l'enregistrement, tapez %s.",
		refused: "Votre appel ne sera pas enregistré.",
		keys:    map[rune]string{'*': "étoile", '#': "dièse"},
	},
	englishLang: {
		notice: "As part of our commitment to improving our services, this call may be recorded. " +
			"By staying on the line, you consent to the recording.",
		refuse:  " To object to the recording, press %s.",
		refused: "This call will not be recorded.",
		keys:    map[rune]string{'*': "star", '#': "hash"},
	},
}

// ConsentTexts returns the default notice of a consent node in lang, which
// names refuseKey as the way to refuse, and the default confirmation of a
// refusal. ok is false for a language without default texts.
func ConsentTexts(lang string, refuseKey rune) (notice, refused string, ok bool) {
	t, ok := consentTexts[lang]
	if !ok {
		return "", "", false
	}
	key, named := t.keys[refuseKey]
	if !named {
		key = string(refuseKey)
	}
	return t.notice + fmt.Sprintf(t.refuse, key), t.refused, true
}

func (c *ConsentNode) refuseKey() rune {
	if c.RefuseKey != 0 {
		return c.RefuseKey
	}
	return DefaultRefuseKey
}

func (c *ConsentNode) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return DefaultConsentWindow
}

// consentNode runs a consent node (rules 12, 13 and 14).
func (s *session) consentNode(ctx context.Context, n *Node) (string, error) {
	c := n.Consent
	if s.consent == nil {
		s.consent = s.findConsent(ctx)
		if s.consent != nil {
			s.log.Info("recording consent found", "node", n.Name, "choice", s.consent.Choice, "consent_id", s.consent.ID)
		}
	}
	if s.consent != nil {
		s.result("already " + string(s.consent.Choice))
		s.vars[VarConsent] = string(s.consent.Choice)
		if s.consent.Choice != ConsentAccepted {
			s.discardRecording(ctx, n.Name)
			return onRefuse(n), nil
		}
		return n.Next, nil
	}

	audio := s.expand(c.Prompt)
	choice, key, err := s.askConsent(ctx, c, audio)
	if err != nil {
		return "", err
	}
	answer := &Consent{
		CallID:      s.rec.ID,
		Caller:      s.rec.Caller,
		Driver:      s.rec.Driver,
		At:          s.e.clock.Now(),
		Language:    s.vars["language"],
		Flow:        s.flow.Name,
		FlowVersion: s.flow.Version,
		Node:        n.Name,
		Prompt:      audioText(audio),
		Choice:      choice,
	}
	if key != 0 {
		answer.Key = string(key)
		s.result(string(choice) + " key " + answer.Key)
	} else {
		s.result(string(choice))
	}
	s.saveConsent(ctx, n, answer)
	s.consent = answer
	s.vars[VarConsent] = string(answer.Choice)
	if answer.Choice == ConsentAccepted {
		return n.Next, nil
	}
	s.discardRecording(ctx, n.Name)
	if _, err := s.prompt(ctx, c.RefusedPrompt, false); err != nil {
		return "", err
	}
	return onRefuse(n), nil
}

func onRefuse(n *Node) string {
	if n.Consent.OnRefuse != "" {
		return n.Consent.OnRefuse
	}
	return n.Next
}

// askConsent plays the notice and waits the window. key is the refuse key
// when the caller refused.
func (s *session) askConsent(ctx context.Context, c *ConsentNode, audio []Audio) (ConsentChoice, rune, error) {
	refuse := c.refuseKey()
	other := false // a key other than the refuse key was pressed during the notice
	if len(audio) > 0 {
		pb, err := s.call.Play(ctx, audio)
		if err != nil {
			if ctx.Err() != nil {
				return "", 0, context.Cause(ctx)
			}
			return "", 0, fmt.Errorf("play consent notice: %w", err)
		}
	notice:
		for {
			ev, err := s.wait(ctx, waitSpec{pb: pb, what: WaitPrompt})
			if err != nil {
				pb.Stop()
				return "", 0, err
			}
			switch ev {
			case evPlayed:
				break notice
			case evKey:
				if s.takeRefusal(refuse) {
					pb.Stop()
					return ConsentRefused, refuse, nil
				}
				other = true
			}
		}
	}
	if other {
		return ConsentAccepted, 0, nil
	}
	d := c.window()
	t := s.timer(d)
	defer t.Stop()
	for {
		ev, err := s.wait(ctx, waitSpec{timer: t, timeout: d, what: WaitAnswer})
		if err != nil {
			return "", 0, err
		}
		switch ev {
		case evTimeout:
			return ConsentAccepted, 0, nil
		case evKey:
			if s.takeRefusal(refuse) {
				return ConsentRefused, refuse, nil
			}
			return ConsentAccepted, 0, nil
		}
	}
}

// takeRefusal reports whether the key just pressed is the refuse key, and
// then takes it out of the type-ahead buffer: it answered the notice and
// is meant for no menu.
func (s *session) takeRefusal(refuse rune) bool {
	last := len(s.digits) - 1
	if last < 0 || s.digits[last] != refuse {
		return false
	}
	if n := len(s.buf); n > 0 && s.buf[n-1].pos == last {
		s.buf = s.buf[:n-1]
	}
	return true
}

// findConsent asks the store for an answer given earlier in the call. A
// failing store is logged and the caller is asked again.
func (s *session) findConsent(ctx context.Context) *Consent {
	if s.e.recordings == nil {
		return nil
	}
	c, err := s.e.recordings.FindConsent(ctx, s.rec.ID)
	if err != nil {
		s.log.Warn("find recording consent", "err", err)
		return nil
	}
	return c
}

// saveConsent stores the answer durably; an answer that cannot be stored
// becomes a refusal, since nothing may be recorded without a stored consent.
func (s *session) saveConsent(ctx context.Context, n *Node, c *Consent) {
	if s.e.recordings == nil {
		s.warnNoRecordings()
		s.log.Info("recording consent", "node", n.Name, "choice", c.Choice, "stored", false)
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), consentSaveTimeout)
	defer cancel()
	if err := s.e.recordings.SaveConsent(sctx, c); err != nil {
		s.log.Error("save recording consent; the call will not be recorded", "node", n.Name, "choice", c.Choice, "err", err)
		c.ID = ""
		c.Choice = ConsentRefused
		s.result("not stored, recording off")
		return
	}
	s.log.Info("recording consent", "node", n.Name, "choice", c.Choice, "consent_id", c.ID)
}

// warnNoRecordings logs, once per call, that consents and recordings go
// nowhere.
func (s *session) warnNoRecordings() {
	if s.warnedNoRecordings {
		return
	}
	s.warnedNoRecordings = true
	s.log.Warn("no recordings store: consent not stored and nothing recorded")
}

// audioText is what a prompt says, for logs and the consent row.
func audioText(audio []Audio) string {
	var b strings.Builder
	for _, a := range audio {
		if a.Text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Text)
	}
	return b.String()
}

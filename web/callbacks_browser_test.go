package web

import (
	"testing"
	"time"

	"github.com/ivrd/ivrd/routing"
	"github.com/ivrd/ivrd/web/webtest"
)

// callbackContact is a callback request as the router offers it.
func callbackContact(id string) routing.ContactView {
	c := waitingCall(id, 10*time.Minute)
	c.Channel, c.CallID = routing.ChannelCallback, ""
	c.Callback = &routing.CallbackInfo{Number: "0612345678", Mode: "agent_first", State: "active",
		Attempts: 1, MaxAttempts: 3, RequestedAt: time.Now().Add(-10 * time.Minute)}
	return c
}

// A callback request in the desk and the supervisor view: "Rappel" and the
// number to call, before anything else.
func TestBrowserCallback(t *testing.T) {
	b := webtest.Start(t, webtest.WithWindowSize(1200, 1000))
	e, base := newBrowserEnv(t)
	e.srv.timings.boardEvery = 500 * time.Millisecond
	p := b.NewPage(t)
	p.Open(base + "/desk")
	p.SignIn(e.tokens["alice"])
	p.WaitVisible("#desk")
	p.Click("#btn-available")
	p.WaitText("#agent-state", "Disponible")
	e.desk.offer("alice", "o1", callbackContact("cb1"), 15*time.Second)
	p.WaitVisible("#offer")
	for sel, want := range map[string]string{
		"#offer-channel":         "Rappel au 0612345678",
		"#offer .pop-callback":   "0612345678",
		"#offer .pop-attempt":    "1 sur 3",
		"#offer .pop-intent":     "contester_facture",
		"#events li:first-child": "Contact proposé : Rappel au 0612345678 (contester_facture)",
	} {
		p.WaitText(sel, want)
	}
	p.Click("#btn-reject")
	p.WaitHidden("#offer")

	waiting := callbackContact("cb2")
	waiting.Callback.State, waiting.Callback.Attempts = "pending", 0
	e.desk.setBoard([]routing.QueueBoard{{Name: "facturation",
		Waiting: []routing.PositionedWait{{WaitingContact: waiting.WaitingContact, Position: 1}}}})
	s := b.NewPage(t)
	s.Open(base + "/supervisor")
	s.SignIn(e.tokens["sam"])
	s.WaitVisible("#board")
	row := `#queues .queue[data-queue="facturation"] tbody tr:nth-child(1)`
	s.WaitText(row+" .caller", "0612345678")
	s.WaitText(row+" .channel", "Rappel")
}

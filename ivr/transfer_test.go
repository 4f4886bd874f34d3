package ivr_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// transferCall is a call whose driver takes the queues in external and
// leaves the others to the engine.
type transferCall struct {
	*ivrtest.Call
	external map[string]bool
	err      error
	got      []ivr.Contact
}

func (c *transferCall) TransferToQueue(_ context.Context, ct ivr.Contact) (bool, error) {
	c.got = append(c.got, ct)
	if c.err != nil {
		return false, c.err
	}
	return c.external[ct.Queue], nil
}

func TestTransferToQueue(t *testing.T) {
	failed := errors.New("continue failed")
	tests := []struct {
		name      string
		external  bool
		err       error
		outcome   ivr.Outcome
		enqueued  int  // contacts in the engine's queue
		hungUp    bool // the engine hung up
		contactID string
	}{
		{name: "handled by driver", external: true, outcome: ivr.OutcomeQueued, contactID: "call-1"},
		{name: "left to engine", outcome: ivr.OutcomeAbandoned, enqueued: 1, contactID: "contact-1"},
		{name: "transfer error", external: true, err: failed, outcome: ivr.OutcomeError, hungUp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := ivr.QueueNode{Queue: "billing", Intent: "${reason}", Priority: 3, Skills: []string{"fr"}, Hold: say("hold")}
			f := newFlow(
				&ivr.Node{Name: "set", Kind: ivr.KindSet, Next: "queue", Set: map[string]string{"reason": "invoice"}},
				&ivr.Node{Name: "queue", Kind: ivr.KindQueue, Queue: &q},
			)
			clock := ivrtest.NewClock(ivrtest.Epoch)
			call := &transferCall{Call: ivrtest.NewCall(clock, "call-1", "+33612345678", "3000"),
				external: map[string]bool{"billing": tt.external}, err: tt.err}
			queue := ivrtest.NewQueue(clock)
			calls := &ivrtest.MemCallLog{}
			set := &ivr.FlowSet{Flows: map[string]*ivr.Flow{"main": f}, Routes: ivr.Routes{Default: "main"}}
			eng := ivr.NewEngine(ivr.FlowsFunc(func() *ivr.FlowSet { return set }),
				ivr.WithClock(clock), ivr.WithQueue(queue), ivr.WithCallLog(calls),
				ivr.WithLogger(slog.New(slog.DiscardHandler)))

			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			// A caller left to the engine's queue hangs up while holding.
			clock.At(5*s, func() { cancel(ivr.ErrCallerHangup) })
			err := clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, call, "test") }, nil)
			if (err != nil) != (tt.err != nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Fatalf("Serve = %v, want %v", err, tt.err)
			}
			rec, ok := calls.Last("call-1")
			if !ok {
				t.Fatal("no call record")
			}
			if rec.Outcome != tt.outcome {
				t.Errorf("outcome = %q, want %q", rec.Outcome, tt.outcome)
			}
			if got := len(queue.Contacts()); got != tt.enqueued {
				t.Errorf("%d contacts in the engine's queue, want %d", got, tt.enqueued)
			}
			if _, hung := call.HungUp(); hung != tt.hungUp {
				t.Errorf("hung up = %v, want %v", hung, tt.hungUp)
			}
			if tt.outcome != ivr.OutcomeError {
				if rec.Queue != "billing" || rec.ContactID != tt.contactID {
					t.Errorf("record queue %q contact %q, want billing %q", rec.Queue, rec.ContactID, tt.contactID)
				}
			}
			if len(call.got) != 1 {
				t.Fatalf("TransferToQueue called %d times, want 1", len(call.got))
			}
			c := call.got[0]
			if c.ID != "call-1" || c.Queue != "billing" || c.Intent != "invoice" || c.Priority != 3 ||
				c.Caller != "+33612345678" || c.Dialled != "3000" || c.Vars["reason"] != "invoice" {
				t.Errorf("contact offered = %+v", c)
			}
		})
	}
}

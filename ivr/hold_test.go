package ivr_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/ivr/ivrtest"
)

// holdCall is a call whose driver holds queued callers itself. It logs
// hold, stop and play events with their clock times, in order.
type holdCall struct {
	*ivrtest.Call
	clock *ivrtest.Clock
	err   error // returned by Hold

	mu     sync.Mutex
	events []string
	prompt []ivr.Audio
}

func (c *holdCall) logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, fmt.Sprintf(format, args...)+" at "+c.clock.Elapsed().String())
}

func (c *holdCall) Hold(_ context.Context, prompt func() []ivr.Audio) (func(), error) {
	if c.err != nil {
		c.logf("hold failed")
		return nil, c.err
	}
	audio := prompt()
	c.mu.Lock()
	c.prompt = audio
	c.mu.Unlock()
	c.logf("hold")
	var once sync.Once
	return func() { once.Do(func() { c.logf("stop") }) }, nil
}

func (c *holdCall) Play(ctx context.Context, prompts []ivr.Audio) (ivr.Playback, error) {
	var text string
	for _, a := range prompts {
		text += a.Text
	}
	c.logf("play %s", text)
	return c.Call.Play(ctx, prompts)
}

func (c *holdCall) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

func TestDriverHold(t *testing.T) {
	tests := []struct {
		name         string
		maxWait      time.Duration
		connectAfter time.Duration
		talkFor      time.Duration
		hangupAt     time.Duration
		keys         []press
		holdErr      error

		events  []string
		outcome ivr.Outcome
		result  string // of the queue node
		left    string // the reason the contact left the queue
		after   string // result of the node after the queue, if any
	}{
		{
			name:     "caller hangs up while held",
			hangupAt: 45 * s,
			events:   []string{"play greeting at 0s", "hold at 1s", "stop at 45s"},
			outcome:  ivr.OutcomeAbandoned, result: "abandoned after 44s", left: "abandoned",
		},
		{
			name:         "agent connects",
			connectAfter: 25 * s,
			talkFor:      30 * s,
			events:       []string{"play greeting at 0s", "hold at 1s", "stop at 26s"},
			outcome:      ivr.OutcomeConnected, result: "connected to agent-1 after 25s; ended by agent after 30s",
		},
		{
			// A key pressed while held is type-ahead for the next node:
			// the menu takes it without playing its prompt.
			name:    "max wait with a key pressed while held",
			maxWait: 60 * s,
			keys:    []press{{30 * s, "2"}},
			events:  []string{"play greeting at 0s", "hold at 1s", "stop at 1m1s", "play bye at 1m1s"},
			outcome: ivr.OutcomeHangup, result: "timeout after 1m0s", left: "timeout", after: "key 2",
		},
		{
			name:     "driver cannot hold: the engine plays the hold prompt",
			hangupAt: 3500 * time.Millisecond,
			holdErr:  errors.New("no bridge"),
			events: []string{"play greeting at 0s", "hold failed at 1s",
				"play please hold at 1s", "play please hold at 2s", "play please hold at 3s"},
			outcome: ivr.OutcomeAbandoned, result: "abandoned after 2.5s", left: "abandoned",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input("callback")
			f := newFlow(
				playNode("greeting", "queue", false),
				&ivr.Node{Name: "queue", Kind: ivr.KindQueue, Queue: &ivr.QueueNode{
					Queue: "support", Hold: say("please hold"), MaxWait: tt.maxWait, OnTimeout: "callback",
				}},
				menuNode("callback", in, map[rune]string{'2': "bye"}),
				playNode("bye", "", false),
			)
			clock := ivrtest.NewClock(ivrtest.Epoch)
			call := &holdCall{Call: ivrtest.NewCall(clock, "call-1", "+33612345678", "3000"), clock: clock, err: tt.holdErr}
			for _, p := range tt.keys {
				call.PressAt(p.at, p.keys)
			}
			queue := ivrtest.NewQueue(clock)
			queue.ConnectAfter = tt.connectAfter
			queue.TalkFor = tt.talkFor
			calls := &ivrtest.MemCallLog{}
			eng := ivr.NewEngine(fixed(f), ivr.WithClock(clock), ivr.WithQueue(queue), ivr.WithCallLog(calls),
				ivr.WithLogger(slog.New(slog.DiscardHandler)))

			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			if tt.hangupAt > 0 {
				clock.At(tt.hangupAt, func() { cancel(ivr.ErrCallerHangup) })
			}
			if err := clock.Run(ctx, func(ctx context.Context) error { return eng.Serve(ctx, call, "test") }, nil); err != nil {
				t.Fatalf("Serve = %v", err)
			}

			if got := call.log(); !slices.Equal(got, tt.events) {
				t.Errorf("events:\n%q\nwant:\n%q", got, tt.events)
			}
			if tt.holdErr == nil && (len(call.prompt) != 1 || call.prompt[0].Text != "please hold") {
				t.Errorf("Hold got prompt %+v, want the queue's hold prompt", call.prompt)
			}
			rec, ok := calls.Last("call-1")
			if !ok {
				t.Fatal("no call record")
			}
			res := results(rec)
			if rec.Outcome != tt.outcome || res["queue"] != tt.result || res["callback"] != tt.after {
				t.Errorf("outcome %q, queue %q, callback %q; want %q, %q, %q",
					rec.Outcome, res["queue"], res["callback"], tt.outcome, tt.result, tt.after)
			}
			left := queue.Left()
			switch {
			case tt.left == "" && len(left) != 0:
				t.Errorf("left = %+v, want none: an agent took the call", left)
			case tt.left != "" && (len(left) != 1 || left[0].Reason != tt.left):
				t.Errorf("left = %+v, want one contact leaving as %s", left, tt.left)
			}
		})
	}
}

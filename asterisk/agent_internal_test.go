package asterisk

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

func TestDialString(t *testing.T) {
	d := &Driver{cfg: Config{AgentEndpoint: "desk"}}
	tests := []struct {
		name  string
		offer ivr.Offer
		want  string // "" : an error
	}{
		{"phone", ivr.Offer{Phone: "sip:alice@10.0.0.7:5060"}, "PJSIP/desk/sip:alice@10.0.0.7:5060"},
		{"sips phone", ivr.Offer{Phone: "sips:alice@pbx.example.com"}, "PJSIP/desk/sips:alice@pbx.example.com"},
		{"dial string first", ivr.Offer{Phone: "sip:alice@10.0.0.7", Dial: "PJSIP/alice"}, "PJSIP/alice"},
		{"dial string alone", ivr.Offer{Dial: "PJSIP/bob&PJSIP/bob-mobile"}, "PJSIP/bob&PJSIP/bob-mobile"},
		{"nothing", ivr.Offer{}, ""},
		{"not sip", ivr.Offer{Phone: "tel:+33123456789"}, ""},
		{"second channel", ivr.Offer{Phone: "sip:alice@10.0.0.7&PJSIP/other"}, ""},
		{"comma", ivr.Offer{Phone: "sip:alice@10.0.0.7,30"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.dialString(tt.offer)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("dialString = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("dialString = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCauseError(t *testing.T) {
	tests := []struct {
		cause int
		want  error // nil: none of the engine's reasons
	}{
		{17, ivr.ErrAgentBusy},
		{21, ivr.ErrAgentDeclined},
		{18, ivr.ErrAgentNoAnswer},
		{19, ivr.ErrAgentNoAnswer},
		{16, nil},
		{34, nil},
		{0, nil},
	}
	reasons := []error{ivr.ErrAgentBusy, ivr.ErrAgentDeclined, ivr.ErrAgentNoAnswer}
	for _, tt := range tests {
		err := causeError(tt.cause, "text")
		if err == nil {
			t.Fatalf("cause %d: no error", tt.cause)
		}
		for _, r := range reasons {
			if errors.Is(err, r) != (r == tt.want) {
				t.Errorf("cause %d: %v; errors.Is(%v) = %v", tt.cause, err, r, errors.Is(err, r))
			}
		}
		if !strings.Contains(err.Error(), "cause ") {
			t.Errorf("cause %d: %q does not say the cause", tt.cause, err)
		}
	}
}

func TestCallerID(t *testing.T) {
	for in, want := range map[string]string{
		"+33123456789":      "<+33123456789>",
		"alice":             "<alice>",
		`"Evil" <5551234>`:  "<Evil 5551234>",
		"":                  "",
		"<>":                "",
		"555\r\nX-Injected": "<555X-Injected>",
	} {
		if got := callerID(in); got != want {
			t.Errorf("callerID(%q) = %q, want %q", in, got, want)
		}
	}
}

// otherLeg is a leg of a kind the driver does not know.
type otherLeg struct{ done chan struct{} }

func (l otherLeg) Done() <-chan struct{}                { return l.done }
func (l otherLeg) Hangup(context.Context, string) error { return nil }

// Bridge refuses at once, with ErrCannotBridge, a leg it does not know,
// and an agent's leg that has not answered; it sends nothing to Asterisk.
func TestBridgeRefusesUnknownLegs(t *testing.T) {
	f := newFakeARI(t, "secret")
	d, err := New(Config{URL: f.srv.URL + "/ari", User: "ivrd", Password: "secret", App: "ivrd",
		Logger: slog.New(slog.DiscardHandler), Handler: func(context.Context, ivr.Call) {}})
	if err != nil {
		t.Fatal(err)
	}
	c := newCall(d, &ari.StasisStart{Channel: ari.ChannelData{ID: "ch-1", State: "Up"}}, slog.New(slog.DiscardHandler))
	other := &Driver{cfg: d.cfg}
	ringing := &agentLeg{d: d, c: c, id: "a", answered: newSignal(), done: newSignal()}
	tests := []struct {
		name string
		leg  ivr.Leg
		want error
	}{
		{"unknown kind", otherLeg{done: make(chan struct{})}, ivr.ErrCannotBridge},
		{"nil", nil, ivr.ErrCannotBridge},
		{"another driver's", &agentLeg{d: other, answered: newSignal(), done: newSignal()}, ivr.ErrCannotBridge},
		{"not answered", ringing, ErrNotAnswered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Bridge(context.Background(), tt.leg); !errors.Is(err, tt.want) {
				t.Fatalf("Bridge = %v, want %v", err, tt.want)
			}
		})
	}
	if len(f.requests) != 0 {
		t.Errorf("requests sent: %q", f.requests)
	}
}

// Dial originates the agent's channel into the application, marked as an
// agent's, with the caller's number and the caller's channel as
// originator; the answer (StasisStart) starts no call, and the channel's
// destruction ends the leg with the reason its cause gives.
func TestDialOverEvents(t *testing.T) {
	f := newFakeARI(t, "secret")
	f.channels["ch-1"] = true
	legs := make(chan ivr.Ringing, 1)
	calls := make(chan string, 4)
	d, _ := runDriver(t, f, "secret", func(ctx context.Context, c ivr.Call) {
		calls <- c.ID()
		leg, err := c.(ivr.Dialer).Dial(ctx, ivr.DialRequest{
			Offer:   ivr.Offer{ID: "o1", Agent: "alice", Phone: "sip:alice@10.0.0.7"},
			Timeout: 7500 * time.Millisecond,
		})
		if err != nil {
			t.Error(err)
			return
		}
		legs <- leg
		<-ctx.Done()
	})
	<-f.conns
	f.send(t, stasisStart)
	leg := <-legs
	var originate string
	f.mu.Lock()
	for _, r := range f.requests {
		if strings.HasPrefix(r, "POST /channels/ivrd-agent-ivrd-") {
			originate = r
		}
	}
	f.mu.Unlock()
	for _, want := range []string{"app=ivrd", "appArgs=ivrd-agent", "callerId=%3C5551234%3E", "originator=ch-1",
		"endpoint=PJSIP%2Fagents%2Fsip%3Aalice%4010.0.0.7", "timeout=10"} {
		if !strings.Contains(originate, want) {
			t.Errorf("originate %q lacks %s", originate, want)
		}
	}
	id := originate[len("POST /channels/"):strings.Index(originate, "?")]
	f.send(t, `{"type":"StasisStart","application":"ivrd","args":["ivrd-agent"],"channel":{"id":"`+id+`","name":"PJSIP/agents-1","state":"Up"}}`)
	select {
	case <-leg.Answered():
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	f.send(t, `{"type":"ChannelDestroyed","application":"ivrd","cause":16,"cause_txt":"Normal Clearing","channel":{"id":"`+id+`"}}`)
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg not done")
	}
	if err := leg.Err(); err != nil {
		t.Errorf("Err after an answer = %v, want nil", err)
	}
	if n := d.ActiveCalls(); n != 1 || len(calls) != 1 {
		t.Errorf("%d calls served, %d active; the agent's channel is not a call", len(calls), n)
	}
	f.send(t, `{"type":"StasisEnd","application":"ivrd","channel":{"id":"ch-1"}}`)
}

func TestAsteriskRTP(t *testing.T) {
	tests := []struct {
		ip, port, ari string
		want          string // "" : an error
	}{
		{"127.0.0.1", "21236", "http://127.0.0.1:8088/ari", "127.0.0.1:21236"},
		{"10.0.0.5", "10000", "http://pbx:8088/ari", "10.0.0.5:10000"},
		{"0.0.0.0", "10000", "http://10.0.0.9:8088/ari", "10.0.0.9:10000"},
		{"::", "10000", "https://[2001:db8::9]:8089/ari", "[2001:db8::9]:10000"},
		{"0.0.0.0", "10000", "http://pbx:8088/ari", ""},
		{"", "10000", "http://127.0.0.1:8088/ari", ""},
		{"127.0.0.1", "0", "http://127.0.0.1:8088/ari", ""},
		{"127.0.0.1", "70000", "http://127.0.0.1:8088/ari", ""},
	}
	for _, tt := range tests {
		got, err := asteriskRTP(tt.ip, tt.port, tt.ari)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("asteriskRTP(%q, %q, %q) = %v, want an error", tt.ip, tt.port, tt.ari, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("asteriskRTP(%q, %q, %q) = %v, %v; want %s", tt.ip, tt.port, tt.ari, got, err, tt.want)
		}
	}
}

// A browser agent's leg is what Bridge relays through ExternalMedia.
var _ interface {
	ivr.Leg
	media.Port
	Codec() media.Codec
} = (*media.WebRTCLeg)(nil)

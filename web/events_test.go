package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/routing"
)

// sseEvent is one server-sent event as a client reads it; comment holds a
// comment line instead.
type sseEvent struct {
	name, id, data, comment string
}

// readEvents parses an event stream until it ends.
func readEvents(body io.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[len("data: "):]
			default:
				out <- sseEvent{comment: "malformed line " + line}
			}
		}
	}()
	return out
}

// next returns the next event that is not a comment, failing after d.
func next(t *testing.T, events <-chan sseEvent, d time.Duration) sseEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if strings.HasPrefix(ev.comment, "malformed") {
				t.Fatal(ev.comment)
			}
			if ev.name != "" {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event within %v", d)
		}
	}
}

// serve runs the server of e on loopback until the test ends, with the
// given timeouts, and returns its base URL and the function that stops it.
func (e *deskEnv) serve(t *testing.T, read, write time.Duration) (string, func()) {
	t.Helper()
	e.srv.readTimeout, e.srv.writeTimeout = read, write
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("server did not stop: an event stream held it")
		}
	}
	var once bool
	t.Cleanup(func() {
		if !once {
			stop()
		}
	})
	return "http://" + ln.Addr().String(), func() { once = true; stop() }
}

func (e *deskEnv) stream(t *testing.T, base, path, user string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens[user])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	return res, readEvents(res.Body)
}

// The desk's stream delivers the agent's events, its state first, and
// outlives the server's read and write timeouts; it ends with the server.
func TestAgentEvents(t *testing.T) {
	e := newDeskEnv(t)
	e.srv.timings.keepAlive = 50 * time.Millisecond
	base, stop := e.serve(t, 150*time.Millisecond, 200*time.Millisecond)
	_, events := e.stream(t, base, "/api/agent/events", "alice")

	ev := next(t, events, 2*time.Second)
	var got routing.AgentEvent
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
		t.Fatal(err)
	}
	if ev.name != "state" || ev.id != "1" || got.Type != "state" || got.Agent.Name != "alice" || got.Agent.State != routing.AgentSignedOut {
		t.Errorf("first event %+v: %+v", ev, got)
	}

	// Past both server timeouts, with keep-alives meanwhile.
	comments := 0
	deadline := time.After(500 * time.Millisecond)
wait:
	for {
		select {
		case ev := <-events:
			if ev.comment == "keep-alive" {
				comments++
			}
		case <-deadline:
			break wait
		}
	}
	if comments < 3 {
		t.Errorf("%d keep-alives in 500ms, want one each 50ms", comments)
	}
	e.desk.offer("alice", "o1", call("c1"), 15*time.Second)
	ev = next(t, events, 2*time.Second)
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
		t.Fatal(err)
	}
	if ev.name != "offer" || ev.id != "2" || got.Offer == nil || got.Offer.ID != "o1" ||
		got.Offer.Contact.Intent != "contester_facture" || got.Agent.State != routing.AgentOffered {
		t.Errorf("offer event %+v: %+v", ev, got)
	}
	// bob's events are not alice's.
	e.desk.offer("bob", "o2", call("c2"), 15*time.Second)
	e.desk.withdraw("alice", "no answer")
	if ev = next(t, events, 2*time.Second); ev.name != "withdrawn" || !strings.Contains(ev.data, `"reason":"no answer"`) {
		t.Errorf("event %+v, want alice's offer withdrawn", ev)
	}

	stop()
	for ev := range events {
		if ev.name != "" {
			t.Errorf("event after the server stopped: %+v", ev)
		}
	}
	waitFor(t, func() bool { return e.desk.subscribers("alice") == 0 }, "the subscription to end")
}

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A client that goes away ends its subscription.
func TestAgentEventsClientGone(t *testing.T) {
	e := newDeskEnv(t)
	base, _ := e.serve(t, time.Second, time.Second)
	res, events := e.stream(t, base, "/api/agent/events", "bob")
	next(t, events, 2*time.Second)
	if n := e.desk.subscribers("bob"); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}
	res.Body.Close()
	waitFor(t, func() bool { return e.desk.subscribers("bob") == 0 }, "the subscription to end")
}

// The router dropping a desk that does not read ends its stream.
func TestAgentEventsDropped(t *testing.T) {
	e := newDeskEnv(t)
	base, _ := e.serve(t, time.Second, time.Second)
	_, events := e.stream(t, base, "/api/agent/events", "bob")
	next(t, events, 2*time.Second)
	e.desk.mu.Lock()
	for ch := range e.desk.subs["bob"] {
		delete(e.desk.subs["bob"], ch)
		close(ch)
	}
	e.desk.mu.Unlock()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("stream still open after the router closed the subscription")
		}
	}
}

// Supervisors get the board and the stats at once, the board again when
// it changes, and both every few seconds.
func TestSupervisorEvents(t *testing.T) {
	e := newDeskEnv(t)
	e.desk.stats = sampleStats()
	e.srv.timings.boardEvery = 300 * time.Millisecond
	e.srv.timings.statsEvery = 400 * time.Millisecond
	e.srv.timings.boardGap = 50 * time.Millisecond
	e.srv.timings.statsGap = 100 * time.Millisecond
	base, stop := e.serve(t, 100*time.Millisecond, 150*time.Millisecond)
	_, events := e.stream(t, base, "/api/supervisor/events", "sam")

	seen := map[string]int{}
	for range 2 {
		ev := next(t, events, 2*time.Second)
		seen[ev.name]++
		if ev.name == "stats" {
			want, _ := json.Marshal(e.desk.stats)
			if ev.data != string(want) {
				t.Errorf("stats event\n got %s\nwant %s", ev.data, want)
			}
		}
	}
	if seen["board"] != 1 || seen["stats"] != 1 {
		t.Fatalf("first events %v, want a board and stats", seen)
	}

	// A change is pushed at once, not at the next tick.
	start := time.Now()
	e.desk.setBoard([]routing.QueueBoard{{Name: "facturation", LongestWaitSeconds: 12,
		Waiting: []routing.PositionedWait{{WaitingContact: call("c9").WaitingContact, Position: 1}}}})
	for {
		ev := next(t, events, 2*time.Second)
		if ev.name != "board" {
			continue
		}
		var b routing.Board
		if err := json.Unmarshal([]byte(ev.data), &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Queues) == 1 && b.Queues[0].Waiting[0].ID == "c9" {
			if d := time.Since(start); d > 250*time.Millisecond {
				t.Errorf("change pushed after %v", d)
			}
			break
		}
	}

	// A burst of changes gives few pushes; nothing changes: pushes go on.
	for range 50 {
		e.desk.setBoard(nil)
	}
	seen = map[string]int{}
	timeout := time.After(time.Second)
count:
	for {
		select {
		case ev := <-events:
			seen[ev.name]++
		case <-timeout:
			break count
		}
	}
	// A second: at most one push per 50 ms gap, at least the 300 ms ticks.
	if seen["board"] < 3 || seen["board"] > 22 || seen["stats"] < 2 || seen["stats"] > 12 {
		t.Errorf("pushes in a second after a burst of 50 changes: %v", seen)
	}
	stop()
}

// The recorder of unit tests supports no deadlines: streams work there
// too, and a write that fails ends the stream.
func TestSSEOnRecorder(t *testing.T) {
	e := newDeskEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, "GET", "/api/agent/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
	w := &failingWriter{ResponseRecorder: httptest.NewRecorder(), failAfter: 2}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.h.ServeHTTP(w, req)
	}()
	waitFor(t, func() bool { return e.desk.subscribers("alice") == 1 }, "the desk to subscribe")
	e.desk.offer("alice", "o1", chat("c1"), time.Minute)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		cancel()
		<-done
		t.Fatal("stream went on after a failed write")
	}
	cancel()
	if !strings.Contains(w.Body.String(), "event: state") {
		t.Errorf("body %q", w.Body.String())
	}
}

type failingWriter struct {
	*httptest.ResponseRecorder
	writes, failAfter int
}

func (f *failingWriter) Write(b []byte) (int, error) {
	f.writes++
	if f.writes > f.failAfter {
		return 0, errors.New("connection reset by peer")
	}
	return f.ResponseRecorder.Write(b)
}

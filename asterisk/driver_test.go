package asterisk

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/ivrd/ivrd/ivr"
)

// fakeARI is an ARI that accepts one password, records requests and lets
// the test push events to the connected websocket.
type fakeARI struct {
	srv      *httptest.Server
	password string

	mu       sync.Mutex
	requests []string        // "METHOD /path?query"
	channels map[string]bool // existing channels
	ws       *websocket.Conn
	conns    chan struct{} // a websocket connected
}

func newFakeARI(t *testing.T, password string) *fakeARI {
	f := &fakeARI{password: password, channels: map[string]bool{}, conns: make(chan struct{}, 8)}
	mux := http.NewServeMux()
	mux.Handle("/ari/events", websocket.Handler(func(ws *websocket.Conn) {
		f.mu.Lock()
		f.ws = ws
		f.mu.Unlock()
		f.conns <- struct{}{}
		var b []byte
		for websocket.Message.Receive(ws, &b) == nil {
		}
	}))
	mux.HandleFunc("/ari/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+strings.TrimPrefix(r.URL.Path, "/ari")+"?"+r.URL.RawQuery)
		exists := f.channels
		f.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/ari/channels/") && r.Method == http.MethodGet &&
			!strings.Contains(r.URL.Path, "/variable") {
			if !exists[strings.TrimPrefix(r.URL.Path, "/ari/channels/")] {
				http.Error(w, `{"message":"Channel not found"}`, http.StatusNotFound)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet && slices.Contains([]string{"/ari/bridges", "/ari/channels", "/ari/recordings/stored"}, r.URL.Path) {
			_, _ = w.Write([]byte("[]"))
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, _ := r.BasicAuth(); pw != f.password {
			http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeARI) send(t *testing.T, event string) {
	t.Helper()
	f.mu.Lock()
	ws := f.ws
	f.mu.Unlock()
	if err := websocket.Message.Send(ws, event); err != nil {
		t.Fatalf("send event: %v", err)
	}
}

// drop closes the websocket, as a restarting Asterisk would.
func (f *fakeARI) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ws.Close()
}

func (f *fakeARI) sawRequest(prefix string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runDriver(t *testing.T, f *fakeARI, password string, handler func(context.Context, ivr.Call)) (*Driver, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	d, err := New(Config{
		URL: f.srv.URL + "/ari", User: "ivrd", Password: password, App: "ivrd",
		PromptBaseURL: "http://127.0.0.1:8080/prompts",
		Backoff:       Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		Logger:        slog.New(slog.NewTextHandler(logs, nil)),
		Handler:       handler,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d, logs
}

func TestWrongPasswordLogged(t *testing.T) {
	f := newFakeARI(t, "secret")
	_, logs := runDriver(t, f, "wrong", func(context.Context, ivr.Call) {})
	waitFor(t, "a log line about the credentials", func() bool {
		return strings.Contains(logs.String(), "ARI refused the credentials")
	})
}

const stasisStart = `{"type":"StasisStart","application":"ivrd","args":["3900"],
 "channel":{"id":"ch-1","name":"PJSIP/a-1","state":"Ring","caller":{"number":"5551234"},
 "dialplan":{"context":"from-callers","exten":"s","priority":2}}}`

func TestCallOverEvents(t *testing.T) {
	f := newFakeARI(t, "secret")
	f.channels["ch-1"] = true
	type seen struct {
		id, caller, dialled string
		key                 ivr.DTMF
		cause               error
	}
	got := make(chan seen, 1)
	d, _ := runDriver(t, f, "secret", func(ctx context.Context, c ivr.Call) {
		s := seen{id: c.ID(), caller: c.Caller(), dialled: c.Dialled()}
		if err := c.Answer(ctx); err != nil {
			t.Errorf("Answer: %v", err)
		}
		pb, err := c.Play(ctx, []ivr.Audio{{Path: "/x/menu.wav", ID: "abc"}, {Silence: 300 * time.Millisecond}, {Sound: "beep"}})
		if err != nil {
			t.Errorf("Play: %v", err)
			return
		}
		s.key = <-c.DTMF()
		pb.Stop()
		<-pb.Done()
		<-ctx.Done()
		s.cause = context.Cause(ctx)
		got <- s
	})
	<-f.conns
	f.send(t, stasisStart)
	waitFor(t, "the playback", func() bool { return f.sawRequest("POST /channels/ch-1/play/") })
	if !f.sawRequest("POST /channels/ch-1/play/ivrd-pb-") ||
		!f.sawRequest("POST /channels/ch-1/answer") {
		t.Fatalf("requests %q", f.requests)
	}
	f.mu.Lock()
	var play string
	for _, r := range f.requests {
		if strings.Contains(r, "/play/") {
			play = r
		}
	}
	f.mu.Unlock()
	wantMedia := "media=sound%3Ahttp%3A%2F%2F127.0.0.1%3A8080%2Fprompts%2Fabc.wav%2Csound%3Ahttp%3A%2F%2F127.0.0.1%3A8080%2Fprompts%2Fsilence-300ms.wav%2Csound%3Abeep"
	if !strings.HasSuffix(play, wantMedia) {
		t.Errorf("play request %q, want media %q", play, wantMedia)
	}
	pbID := play[strings.Index(play, "/play/")+6 : strings.Index(play, "?")]
	f.send(t, `{"type":"ChannelDtmfReceived","application":"ivrd","digit":"1","duration_ms":100,"channel":{"id":"ch-1"}}`)
	waitFor(t, "the stop", func() bool { return f.sawRequest("DELETE /playbacks/" + pbID) })
	f.send(t, `{"type":"PlaybackFinished","application":"ivrd","playback":{"id":"`+pbID+`","target_uri":"channel:ch-1","state":"done"}}`)
	if d.ActiveCalls() != 1 {
		t.Errorf("ActiveCalls = %d, want 1", d.ActiveCalls())
	}
	f.send(t, `{"type":"StasisEnd","application":"ivrd","channel":{"id":"ch-1"}}`)
	s := <-got
	if s.id != "ch-1" || s.caller != "5551234" || s.dialled != "3900" || s.key.Digit != '1' || s.key.Via != "ari" {
		t.Errorf("call %+v", s)
	}
	if !errors.Is(s.cause, ivr.ErrCallerHangup) {
		t.Errorf("cause %v, want caller hang-up", s.cause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if f.sawRequest("DELETE /channels/ch-1") {
		t.Error("hung up a channel the caller had already left")
	}
}

func TestReconnectEndsVanishedCalls(t *testing.T) {
	f := newFakeARI(t, "secret")
	f.channels["ch-1"] = true
	ended := make(chan error, 1)
	_, logs := runDriver(t, f, "secret", func(ctx context.Context, c ivr.Call) {
		<-ctx.Done()
		ended <- context.Cause(ctx)
	})
	<-f.conns
	f.send(t, stasisStart)
	waitFor(t, "the call", func() bool { return strings.Contains(logs.String(), "call_id=ch-1") })
	f.mu.Lock()
	delete(f.channels, "ch-1") // hung up while ivrd was not listening
	f.mu.Unlock()
	f.drop()
	<-f.conns
	select {
	case err := <-ended:
		if !errors.Is(err, ivr.ErrCallerHangup) {
			t.Errorf("cause %v, want caller hang-up", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call whose channel vanished was not ended after reconnection")
	}
	if !strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("no reconnection logged:\n%s", logs)
	}
}

func TestConfigErrors(t *testing.T) {
	h := func(context.Context, ivr.Call) {}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no handler", Config{URL: "http://a/ari", App: "ivrd"}, "no handler"},
		{"bad url", Config{URL: "ftp://a", App: "ivrd", Handler: h}, "url"},
		{"no app", Config{URL: "http://a/ari", Handler: h}, "application"},
		{"comma in prompt url", Config{URL: "http://a/ari", App: "ivrd", Handler: h, PromptBaseURL: "http://a/p,q"}, "comma"},
		{"dialplan without context", Config{URL: "http://a/ari", App: "ivrd", Handler: h,
			Handoff: map[string]HandoffConfig{"q": {Mode: HandoffDialplan}}}, "context"},
		{"unknown mode", Config{URL: "http://a/ari", App: "ivrd", Handler: h,
			Handoff: map[string]HandoffConfig{"q": {Mode: "agent"}}}, "mode"},
		{"bad moh class", Config{URL: "http://a/ari", App: "ivrd", Handler: h, MOHClass: "a,b"}, "music-on-hold"},
		{"wildcard media address", Config{URL: "http://a/ari", App: "ivrd", Handler: h, MediaAddr: netip.IPv4Unspecified()}, "media address"},
		{"bad agent endpoint", Config{URL: "http://a/ari", App: "ivrd", Handler: h, AgentEndpoint: "agents/x"}, "PJSIP endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error about %s", err, tt.want)
			}
		})
	}
	if got := WebsocketURL("https://pbx:8089/ari/"); got != "wss://pbx:8089/ari/events" {
		t.Errorf("WebsocketURL = %q", got)
	}
}

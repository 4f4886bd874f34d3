package asterisktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
)

// TestCallThroughStasis proves the whole chain the ARI driver relies on:
// sipp calls Asterisk, the call enters the Stasis application, the client
// answers and plays a prompt, the caller's RFC 4733 key arrives as
// ChannelDtmfReceived, the client stops the prompt and hangs up.
func TestCallThroughStasis(t *testing.T) {
	a := Start(t, Options{})
	cl := connectARI(t, a)
	sub := cl.Bus().Subscribe(nil, ari.Events.All)
	defer sub.Cancel()

	caller := startSipp(t, a, "uac_dtmf.xml", "3900")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	start, err := next[*ari.StasisStart](ctx, sub)
	if err != nil {
		t.Fatalf("stasis start: %v\nsipp:\n%s", err, caller.output())
	}
	if len(start.Args) != 1 || start.Args[0] != "3900" {
		t.Errorf("StasisStart args = %q, want [3900]", start.Args)
	}
	ch := cl.Channel().Get(ari.NewKey(ari.ChannelKey, start.Channel.ID))
	if err := ch.Answer(); err != nil {
		t.Fatalf("answer: %v", err)
	}
	pb, err := ch.Play("pb-"+start.Channel.ID, "sound:hello-world")
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	started, err := next[*ari.PlaybackStarted](ctx, sub)
	if err != nil {
		t.Fatalf("playback started: %v", err)
	}
	playing := time.Now()
	if started.Playback.ID != pb.ID() {
		t.Errorf("PlaybackStarted for %q, want %q", started.Playback.ID, pb.ID())
	}

	// The key must arrive while the prompt still plays: that is what
	// barge-in stops.
	var dtmf *ari.ChannelDtmfReceived
	for dtmf == nil {
		select {
		case e := <-sub.Events():
			switch e := e.(type) {
			case *ari.ChannelDtmfReceived:
				dtmf = e
			case *ari.PlaybackFinished:
				t.Fatalf("playback finished %v after it started, before any key", time.Since(playing))
			}
		case <-ctx.Done():
			t.Fatalf("wait for dtmf: %v\nsipp:\n%s", ctx.Err(), caller.output())
		}
	}
	latency := time.Since(playing)
	if dtmf.Digit != "1" {
		t.Errorf("digit = %q, want 1", dtmf.Digit)
	}
	t.Logf("playback start -> ChannelDtmfReceived: %v (sipp sends the key 1 s after ACK)", latency)

	stopAt := time.Now()
	if err := pb.Stop(); err != nil {
		t.Fatalf("stop playback: %v", err)
	}
	finished, err := next[*ari.PlaybackFinished](ctx, sub)
	if err != nil {
		t.Fatalf("playback finished: %v", err)
	}
	t.Logf("stop playback -> PlaybackFinished: %v", time.Since(stopAt))
	if finished.Playback.ID != pb.ID() {
		t.Errorf("PlaybackFinished for %q, want %q", finished.Playback.ID, pb.ID())
	}
	if err := ch.Hangup(); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	if _, err := next[*ari.StasisEnd](ctx, sub); err != nil {
		t.Fatalf("stasis end: %v", err)
	}
	caller.requireOK(t)
}

// TestContinueToDialplan hands a call back to the dialplan the way a
// queue handoff does, with the IVR context as a channel variable.
func TestContinueToDialplan(t *testing.T) {
	a := Start(t, Options{})
	cl := connectARI(t, a)
	sub := cl.Bus().Subscribe(nil, ari.Events.StasisStart, ari.Events.StasisEnd)
	defer sub.Cancel()

	caller := startSipp(t, a, "uac_wait.xml", "3901")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start, err := next[*ari.StasisStart](ctx, sub)
	if err != nil {
		t.Fatalf("stasis start: %v\nsipp:\n%s", err, caller.output())
	}
	ch := cl.Channel().Get(ari.NewKey(ari.ChannelKey, start.Channel.ID))
	if err := ch.Answer(); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if err := ch.SetVariable("IVRD_CONTEXT", "lang=fr"); err != nil {
		t.Fatalf("set variable: %v", err)
	}
	if err := ch.Continue("ivrd-queue", "support", 1); err != nil {
		t.Fatalf("continue: %v", err)
	}
	if _, err := next[*ari.StasisEnd](ctx, sub); err != nil {
		t.Fatalf("stasis end: %v", err)
	}

	// The channel is now in the dialplan, out of ARI's hands: the CLI
	// shows where it runs.
	var show string
	for {
		show, err = a.CLI("core show channel " + start.Channel.Name)
		if err == nil && strings.Contains(show, "IVRD_QUEUE_REACHED=support") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("channel never reached ivrd-queue: %v\n%s", err, show)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !strings.Contains(show, "IVRD_CONTEXT=lang=fr") {
		t.Errorf("channel variables lost in the handoff:\n%s", show)
	}
	if _, err := a.CLI("channel request hangup " + start.Channel.Name); err != nil {
		t.Fatal(err)
	}
	caller.requireOK(t)
}

// TestInstancesAreIsolated runs two Asterisks at once, as parallel test
// packages do, and checks that neither leaks a mount onto the host.
func TestInstancesAreIsolated(t *testing.T) {
	var (
		mu  sync.Mutex
		all []*Asterisk
	)
	t.Run("group", func(t *testing.T) {
		for i := range 2 {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				a := Start(t, Options{App: fmt.Sprintf("app%d", i), User: "u", Password: "p" + strconv.Itoa(i)})
				out, err := a.CLI("pjsip show transports")
				if err != nil || !strings.Contains(out, a.SIPAddr) {
					t.Errorf("transport not on %s: %v\n%s", a.SIPAddr, err, out)
				}
				if mounts := hostMounts(t, a.Root); len(mounts) != 0 {
					t.Errorf("mounts leaked onto the host: %q", mounts)
				}
				mu.Lock()
				all = append(all, a)
				mu.Unlock()
			})
		}
	})
	if len(all) != 2 {
		t.Fatalf("started %d instances, want 2", len(all))
	}
	if all[0].ARIURL == all[1].ARIURL || all[0].SIPAddr == all[1].SIPAddr || all[0].Dir == all[1].Dir {
		t.Errorf("instances share ports or folders: %+v / %+v", all[0], all[1])
	}
	for _, a := range all {
		select {
		case <-a.Exited():
		default:
			t.Errorf("asterisk in %s still runs after its test", a.Dir)
		}
		if _, err := os.Stat(a.HostPath(a.Dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("instance folder %s left behind: %v", a.Dir, err)
		}
	}
}

// TestCredentials checks that ARI takes the configured credentials and
// refuses others.
func TestCredentials(t *testing.T) {
	a := Start(t, Options{User: "admin", Password: "s3cret"})
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"right", "admin", "s3cret", http.StatusOK},
		{"wrong password", "admin", "nope", http.StatusUnauthorized},
		{"unknown user", "ivrd", "s3cret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, a.ARIURL+"/asterisk/info", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(tt.user, tt.pass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestStop checks that Stop ends Asterisk so that clients see it go.
func TestStop(t *testing.T) {
	a := Start(t, Options{})
	a.Stop()
	select {
	case <-a.Exited():
	case <-time.After(15 * time.Second):
		t.Fatal("asterisk still runs after Stop")
	}
	if _, err := a.CLI("core show uptime"); err == nil {
		t.Error("CLI answers after Stop")
	}
	a.Stop() // twice is fine
}

// connectARI connects an ari/v5 client; its Connect blocks until the
// websocket is up, so it is bounded here.
func connectARI(t *testing.T, a *Asterisk) ari.Client {
	t.Helper()
	type result struct {
		cl  ari.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		cl, err := native.Connect(&native.Options{
			Application:  a.App,
			URL:          a.ARIURL,
			WebsocketURL: a.WSURL,
			Username:     a.User,
			Password:     a.Password,
		})
		done <- result{cl, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("connect ari: %v", r.err)
		}
		// ari/v5's Close writes its connected flag while the listener
		// goroutine writes it too, unsynchronised: under -race the client
		// is left to retry the stopped Asterisk in the background instead.
		if !raceEnabled {
			t.Cleanup(r.cl.Close)
		}
		return r.cl
	case <-time.After(10 * time.Second):
		t.Fatal("connect ari: timed out")
		return nil
	}
}

// next returns the next event of type E, skipping others.
func next[E ari.Event](ctx context.Context, sub ari.Subscription) (E, error) {
	for {
		select {
		case e := <-sub.Events():
			if want, ok := e.(E); ok {
				return want, nil
			}
		case <-ctx.Done():
			var zero E
			return zero, fmt.Errorf("wait for %T: %w", zero, ctx.Err())
		}
	}
}

type sippRun struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startSipp calls a.SIPAddr with a scenario from testdata/sipp.
func startSipp(t *testing.T, a *Asterisk, scenario, service string) *sippRun {
	t.Helper()
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	sipPort, err := freePort("udp")
	if err != nil {
		t.Fatal(err)
	}
	mediaPort, err := freePort("udp")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	r := &sippRun{out: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.CommandContext(ctx, "sipp",
		"-sf", scenario, "-s", service,
		"-m", "1", "-l", "1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-mp", strconv.Itoa(mediaPort),
		"-timeout", "30s", "-timeout_error", "-nostdin",
		"-trace_err", "-error_file", filepath.Join(t.TempDir(), "errors.log"),
		a.SIPAddr)
	r.cmd.Dir = t.TempDir()
	r.cmd.Stdout = r.out
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		cancel()
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *sippRun) output() string { return tail(r.out.String(), 3000) }

// requireOK waits for sipp and fails t unless it exited 0.
func (r *sippRun) requireOK(t *testing.T) {
	t.Helper()
	<-r.done
	if r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.output())
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// hostMounts lists the host's mounts below root.
func hostMounts(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], root) {
			found = append(found, f[1])
		}
	}
	return found
}

// TestPortsTaken gives Asterisk ports another process holds, as happens
// when a parallel test binary takes them first: Start must notice and
// move to other ports.
func TestPortsTaken(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	takenHTTP, takenSIP := tcp.Addr().(*net.TCPAddr).Port, udp.LocalAddr().(*net.UDPAddr).Port

	tests := []struct {
		name string
		pick func() (int, int, error)
	}{
		{"http", func() (int, int, error) { _, s, err := freePorts(); return takenHTTP, s, err }},
		{"sip", func() (int, int, error) { h, _, err := freePorts(); return h, takenSIP, err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			pickPorts = func() (int, int, error) {
				calls++
				if calls == 1 {
					return tt.pick()
				}
				return freePorts()
			}
			defer func() { pickPorts = freePorts }()
			a := Start(t, Options{})
			if calls != 2 {
				t.Errorf("ports picked %d times, want 2", calls)
			}
			if strings.Contains(a.ARIURL, ":"+strconv.Itoa(takenHTTP)+"/") || a.SIPAddr == udp.LocalAddr().String() {
				t.Errorf("asterisk on taken ports: %s %s", a.ARIURL, a.SIPAddr)
			}
			if _, err := a.CLI("core show uptime"); err != nil {
				t.Error(err)
			}
		})
	}
}

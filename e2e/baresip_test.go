package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/media"
)

// baresipCaller is the user of the baresip account.
const baresipCaller = "test"

// TestBaresipKeyToQueue: baresip, a real softphone, dials the main flow and
// presses 1 (RFC 4733) 1.5 s in; the call reaches the technical queue, and
// what baresip recorded is ivrd's audio, not silence.
func TestBaresipKeyToQueue(t *testing.T) {
	t.Parallel()
	p := startIvrd(t, ivrdOptions{})
	dir := t.TempDir()
	in := filepath.Join(dir, "in.wav")
	writeSilence(t, in, 20*time.Second)
	// aufile is only an audio source in baresip 1.0; the sndfile filter
	// records what the call received to dump-*-dec.wav in snd_path.
	config := fmt.Sprintf(`poll_method		poll
sip_listen		127.0.0.1:%d
audio_source		aufile,%s
audio_srate		8000
audio_channels		1
module_path		/usr/lib/baresip/modules
module			stdio.so
module			g711.so
module			aufile.so
module			sndfile.so
snd_path		%s
module_app		account.so
module_app		menu.so
`, freePorts(t, 1), in, dir)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0\n", baresipCaller)
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "baresip", "-n", "127.0.0.1", "-f", dir,
		"-e", fmt.Sprintf("/dial sip:%s@%s", serviceMain, p.sipAddr))
	cmd.Dir = dir
	var output syncBuffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("baresip output:\n%s", output.String())
		}
	}()

	id := p.waitCallerCall(t, baresipCaller, 5*time.Second)
	// baresip answers nothing itself: once ivrd's record exists, the call
	// is being answered. Press 1 about 1.5 s into the greeting.
	time.Sleep(1500 * time.Millisecond)
	if _, err := io.WriteString(stdin, "1"); err != nil {
		t.Fatalf("press 1: %v", err)
	}
	p.waitQueued(t, "e2e-technical", id, 8*time.Second)
	time.Sleep(time.Second) // some hold music
	// Hang up ("b") and quit ("q").
	_, _ = io.WriteString(stdin, "b")
	time.Sleep(300 * time.Millisecond)
	_, _ = io.WriteString(stdin, "q")
	select {
	case <-exited:
		exited <- nil
	case <-time.After(5 * time.Second):
		t.Errorf("baresip did not quit")
	}

	rec := p.waitCall(t, id, 5*time.Second, ended)
	checkVisit(t, rec, "welcome", ivr.KindMenu, "key 1")
	checkVisit(t, rec, "technical", ivr.KindQueue, "")
	if rec.Digits != "1" || rec.Queue != "e2e-technical" || rec.Outcome != ivr.OutcomeAbandoned {
		t.Errorf("record = %s; want digits 1, queue e2e-technical, outcome abandoned", dump(rec))
	}

	heard, _ := filepath.Glob(filepath.Join(dir, "dump-*-dec.wav"))
	if len(heard) != 1 {
		t.Fatalf("baresip recorded %d files of received audio, want 1: %v", len(heard), heard)
	}
	samples, err := media.LoadWAV(heard[0])
	if err != nil {
		t.Fatalf("what baresip heard: %v", err)
	}
	level := rms(samples)
	t.Logf("baresip recorded %.2f s of audio, rms %.0f", float64(len(samples))/8000, level)
	if len(samples) < 8000 {
		t.Errorf("baresip recorded %d samples, want at least a second", len(samples))
	}
	if level < 200 {
		t.Errorf("baresip recorded silence (rms %.0f): ivrd's prompts did not reach it", level)
	}
}

// writeSilence writes an 8 kHz mono WAV of silence.
func writeSilence(t testing.TB, path string, d time.Duration) {
	t.Helper()
	var b bytes.Buffer
	if err := media.WriteWAV(&b, make([]int16, int(d.Seconds()*8000)), 8000, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitCallerCall polls GET /api/calls?caller= until a call from caller
// shows up and returns its id.
func (p *ivrdProc) waitCallerCall(t testing.TB, caller string, timeout time.Duration) string {
	t.Helper()
	var id, last string
	ok := waitFor(timeout, func() bool {
		_, body := p.getRaw(t, "/api/calls?caller="+caller)
		last = body
		var doc any
		if jsonUnmarshal(body, &doc) != nil {
			return false
		}
		id = findCallOf(doc, caller)
		return id != ""
	})
	if !ok {
		t.Fatalf("no call from %q within %v; GET /api/calls?caller=%s: %s", caller, timeout, caller, last)
	}
	return id
}

// findCallOf returns the id of the first call record from caller in a JSON
// document (a list of records, or an object holding one).
func findCallOf(doc any, caller string) string {
	switch v := doc.(type) {
	case map[string]any:
		if c, _ := v["caller"].(string); c == caller {
			if id, _ := v["id"].(string); id != "" {
				return id
			}
		}
		for _, e := range v {
			if id := findCallOf(e, caller); id != "" {
				return id
			}
		}
	case []any:
		for _, e := range v {
			if id := findCallOf(e, caller); id != "" {
				return id
			}
		}
	}
	return ""
}

package recordings

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

// A crash is a real one: the test binary runs again as a child process on
// the same store and folder, and kills itself with SIGKILL at the chosen
// point. Nothing deferred runs, nothing is flushed.

const childEnv = "IVRD_RECORDINGS_TEST_CHILD"

// childSpec says what the child does before it kills itself.
type childSpec struct {
	DB, Dir string
	Key     []byte
	Now     time.Time
	Mode    string // "purge" or "record"

	// purge: the batch size, and where to die.
	Batch int
	Step  purgeStep
	N     int

	// record: the call, and the milliseconds of audio written before dying.
	CallID string
	MS     int
}

// runChild runs spec in a child process and checks that it died of
// SIGKILL.
func runChild(t *testing.T, spec childSpec) {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child did not die: %v\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL\n%s", err, out)
	}
}

// TestChildProcess is the child of runChild; run directly, it does nothing.
func TestChildProcess(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	if err := child(t, raw); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	fmt.Fprintln(os.Stderr, "child: the kill point was never reached")
	os.Exit(4)
}

func die() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

func child(t *testing.T, raw string) error {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return err
	}
	ctx := t.Context()
	db, err := store.Open(ctx, spec.DB)
	if err != nil {
		return err
	}
	s, err := New(db, Config{Dir: spec.Dir, Key: spec.Key, Now: func() time.Time { return spec.Now },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	switch spec.Mode {
	case "purge":
		s.purgeBatch = spec.Batch
		s.purgeHook = func(step purgeStep, n int) error {
			if step == spec.Step && n == spec.N {
				die()
			}
			return nil
		}
		_, err := s.Purge(ctx, false)
		return err
	case "record":
		c := &ivr.Consent{CallID: spec.CallID, Choice: ivr.ConsentAccepted}
		if err := s.SaveConsent(ctx, c); err != nil {
			return err
		}
		f, err := s.Create(ctx, meta(spec.CallID, c.ID, spec.Now))
		if err != nil {
			return err
		}
		l, r := frames(160, 3)
		for range spec.MS / 20 {
			if err := f.WriteFrames(l, r); err != nil {
				return err
			}
		}
		f.Pause(spec.Now.Add(time.Duration(spec.MS)*time.Millisecond), "sensitive: card_number")
		die()
	}
	return fmt.Errorf("unknown mode %q", spec.Mode)
}

package recordings

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
)

func TestCreateRequiresAcceptedConsent(t *testing.T) {
	e := newEnv(t)
	accepted := e.consent(t, "call-ok", ivr.ConsentAccepted)
	refused := e.consent(t, "call-no", ivr.ConsentRefused)
	// A call where the caller accepted, then refused (on another leg).
	changed := e.consent(t, "call-changed", ivr.ConsentAccepted)
	e.consent(t, "call-changed", ivr.ConsentRefused)

	tests := []struct {
		name      string
		callID    string
		consentID string
	}{
		{"no consent", "call-ok", ""},
		{"unknown consent", "call-ok", "no-such-consent"},
		{"consent of another call", "call-other", accepted},
		{"refused", "call-no", refused},
		{"acceptance overridden by a refusal", "call-changed", changed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := e.s.Create(t.Context(), meta(tt.callID, tt.consentID, t0))
			if !errors.Is(err, ErrNoConsent) {
				if f != nil {
					f.Abort(t.Context())
				}
				t.Fatalf("Create = %v, want ErrNoConsent", err)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM recordings`); n != 0 {
		t.Errorf("%d recording rows after refused creations", n)
	}
	if files := e.files(t); len(files) != 0 {
		t.Errorf("files after refused creations: %v", files)
	}
	// The accepted consent does record.
	f, err := e.s.Create(t.Context(), meta("call-ok", accepted, t0))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// wavSamples parses a recording WAV and returns its channels.
func wavSamples(t *testing.T, b []byte) (left, right []int16) {
	t.Helper()
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("not a WAV: % x", b[:min(len(b), 16)])
	}
	if ch, rate, bits := binary.LittleEndian.Uint16(b[22:]), binary.LittleEndian.Uint32(b[24:]), binary.LittleEndian.Uint16(b[34:]); ch != 2 || rate != 8000 || bits != 16 {
		t.Fatalf("format %d channels %d Hz %d bits, want stereo 8000 Hz 16 bits", ch, rate, bits)
	}
	if n := binary.LittleEndian.Uint32(b[40:]); int(n) != len(b)-44 {
		t.Fatalf("data size %d, file holds %d", n, len(b)-44)
	}
	for i := 44; i+4 <= len(b); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(b[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(b[i+2:])))
	}
	return left, right
}

func TestRecordingRowMatchesFile(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			var mods []func(*Config)
			ext := ".wav"
			if enc {
				mods = append(mods, encrypted)
				ext = ".wav.enc"
			}
			e := newEnv(t, mods...)
			ctx := t.Context()
			cid := e.consent(t, "call-1", ivr.ConsentAccepted)
			start := t0.Add(90 * time.Minute)
			f, err := e.s.Create(ctx, meta("call-1", cid, start))
			if err != nil {
				t.Fatal(err)
			}
			// The row exists, in state recording, before any audio.
			rel := e.relPath(t, f.ID())
			if want := "2026/03/02/" + f.ID() + ext; rel != want {
				t.Errorf("rel_path %q, want %q", rel, want)
			}
			r, err := e.s.Get(ctx, f.ID())
			if err != nil {
				t.Fatal(err)
			}
			if r.State != StateRecording || r.ConsentID != cid {
				t.Errorf("before Close: state %s consent %s", r.State, r.ConsentID)
			}
			if !exists(t, filepath.Join(e.dir, rel+audiofile.PartSuffix)) {
				t.Error("no .part file while recording")
			}
			var wantL, wantR []int16
			for i := range 150 { // 3 s
				l, r := frames(160, int16(i))
				wantL, wantR = append(wantL, l...), append(wantR, r...)
				if err := f.WriteFrames(l, r); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Set(start.Add(3 * time.Second))
			if err := f.Close(ctx); err != nil {
				t.Fatal(err)
			}
			r, err = e.s.Get(ctx, f.ID())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(e.dir, filepath.FromSlash(rel))
			sum, size, err := audiofile.Hash(path)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != StateComplete || r.SHA256 != sum || r.Size != size || r.DurationSeconds != 3 || r.Encrypted != enc {
				t.Errorf("row %+v; file sha256 %s size %d", r, sum, size)
			}
			if r.EndedAt == nil || !r.EndedAt.Equal(start.Add(3*time.Second)) {
				t.Errorf("ended_at %v", r.EndedAt)
			}
			if want := start.Add(DefaultRetention); !r.ExpiresAt.Equal(want) {
				t.Errorf("expires_at %v, want %v", r.ExpiresAt, want)
			}
			if exists(t, path+audiofile.PartSuffix) {
				t.Error(".part left after Close")
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if isEnc, _ := audiofile.IsEncrypted(path); isEnc != enc || (enc && strings.HasPrefix(string(raw), "RIFF")) {
				t.Errorf("encrypted on disk = %v, want %v", isEnc, enc)
			}
			rd, got, err := e.s.Open(ctx, f.ID())
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if got.ID != f.ID() {
				t.Errorf("Open returned recording %s", got.ID)
			}
			wav, err := io.ReadAll(rd)
			if err != nil {
				t.Fatal(err)
			}
			if len(wav) != 44+3*32000 || int64(len(wav)) != rd.Size() {
				t.Errorf("WAV of %d bytes, want %d", len(wav), 44+3*32000)
			}
			l, rr := wavSamples(t, wav)
			if !slicesEqual(l, wantL) || !slicesEqual(rr, wantR) {
				t.Error("audio read back differs from the audio written")
			}
			e.checkConsistent(t)
		})
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMetadataNeverHoldsThePath(t *testing.T) {
	e := newEnv(t)
	id := e.record(t, "call-1", t0, 100)
	r, err := e.s.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jsonMarshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b, "2026/") || strings.Contains(b, ".wav") || strings.Contains(b, e.dir) {
		t.Errorf("metadata JSON names the file: %s", b)
	}
	for _, key := range []string{`"id"`, `"call_id"`, `"duration_seconds"`, `"sha256"`, `"expires_at"`, `"hold":null`, `"pauses":[]`, `"consent_id"`} {
		if !strings.Contains(b, key) {
			t.Errorf("metadata JSON lacks %s: %s", key, b)
		}
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	e := newEnv(t)
	cid := e.consent(t, "call-1", ivr.ConsentAccepted)
	f, err := e.s.Create(t.Context(), meta("call-1", cid, t0))
	if err != nil {
		t.Fatal(err)
	}
	l, r := frames(160, 1)
	if err := f.WriteFrames(l, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM recordings`); n != 0 {
		t.Errorf("%d rows after Abort", n)
	}
	if files := e.files(t); len(files) != 0 {
		t.Errorf("files after Abort: %v", files)
	}
	if err := f.Close(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after Abort = %v, want ErrClosed", err)
	}
	if err := f.WriteFrames(l, r); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrames after Abort = %v, want ErrClosed", err)
	}
}

func TestPausesAreStored(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cid := e.consent(t, "call-1", ivr.ConsentAccepted)
	f, err := e.s.Create(ctx, meta("call-1", cid, t0))
	if err != nil {
		t.Fatal(err)
	}
	l, r := frames(160, 1)
	write := func(ms int) {
		for range ms / 20 {
			if err := f.WriteFrames(l, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1000)
	f.Pause(t0.Add(time.Second), "sensitive: card_number")
	f.Pause(t0.Add(1100*time.Millisecond), "again") // already paused: ignored
	// Noted at once, so a crash keeps it.
	got, err := e.s.Get(ctx, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Pauses) != 1 || got.Pauses[0].Reason != "sensitive: card_number" || got.Pauses[0].ResumedAt != nil {
		t.Errorf("pauses while paused: %+v", got.Pauses)
	}
	write(500)
	f.Resume(t0.Add(1500 * time.Millisecond))
	f.Resume(t0.Add(1600 * time.Millisecond)) // not paused: ignored
	write(500)
	f.Pause(t0.Add(2*time.Second), "sensitive: cvv")
	write(200)
	e.clock.Set(t0.Add(2200 * time.Millisecond))
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = e.s.Get(ctx, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		at, resumed time.Time
		offset      float64
		reason      string
	}{
		{t0.Add(time.Second), t0.Add(1500 * time.Millisecond), 1, "sensitive: card_number"},
		// Left open at Close: it ends with the recording.
		{t0.Add(2 * time.Second), t0.Add(2200 * time.Millisecond), 2, "sensitive: cvv"},
	}
	if len(got.Pauses) != len(want) {
		t.Fatalf("pauses %+v", got.Pauses)
	}
	for i, w := range want {
		p := got.Pauses[i]
		if !p.At.Equal(w.at) || p.ResumedAt == nil || !p.ResumedAt.Equal(w.resumed) || p.OffsetSeconds != w.offset || p.Reason != w.reason {
			t.Errorf("pause %d = %+v, want %+v", i, p, w)
		}
	}
}

// WriteFrames comes from the media path while Close or Abort comes from
// the call's goroutine: whichever wins, nothing races, a late write gets
// ErrClosed, and the file is whole.
func TestWriteFramesRacesClose(t *testing.T) {
	e := newEnv(t, encrypted)
	ctx := t.Context()
	const calls = 8
	var wg sync.WaitGroup
	errc := make(chan error, calls)
	for i := range calls {
		callID := fmt.Sprintf("call-%d", i)
		cid := e.consent(t, callID, ivr.ConsentAccepted)
		f, err := e.s.Create(ctx, meta(callID, cid, t0))
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		wg.Add(2)
		go func() { // the media path
			defer wg.Done()
			l, r := frames(160, int16(i))
			for n := 0; ; n++ {
				if n == 10 {
					close(started)
				}
				if err := f.WriteFrames(l, r); err != nil {
					if !errors.Is(err, ErrClosed) {
						errc <- err
					}
					return
				}
			}
		}()
		go func() { // the call
			defer wg.Done()
			<-started
			var err error
			if i%2 == 0 {
				err = f.Close(ctx)
			} else {
				err = f.Abort(ctx)
			}
			if err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := e.count(t, `SELECT count(*) FROM recordings WHERE state = 'complete'`); n != calls/2 {
		t.Errorf("%d complete recordings, want %d", n, calls/2)
	}
	if n := e.count(t, `SELECT count(*) FROM recordings`); n != calls/2 {
		t.Errorf("%d rows, want %d (aborted ones deleted)", n, calls/2)
	}
	e.checkConsistent(t)
	recs, err := e.s.Search(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		rd, _, err := e.s.Open(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		wav, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			t.Fatalf("read %s: %v", r.ID, err)
		}
		if d := float64(len(wav)-44) / 32000; d != r.DurationSeconds {
			t.Errorf("recording %s: %v s of audio, row says %v", r.ID, d, r.DurationSeconds)
		}
	}
}

func TestRecordingIDs(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("id %q malformed or repeated", id)
		}
		seen[id] = true
	}
}

package recordings

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/recordings/audiofile"
	"github.com/ivrd/ivrd/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	t0      = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	testKey = bytes.Repeat([]byte{0x42}, KeySize)
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a service on a fresh store in a temporary folder.
type env struct {
	s     *Service
	db    *store.DB
	clock *clock
	dir   string // recordings folder
	cfg   Config
}

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	root := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(root, "ivrd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: t0}
	cfg := Config{
		Dir:    filepath.Join(root, "recordings"),
		Now:    c.Now,
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{s: s, db: db, clock: c, dir: s.Dir(), cfg: cfg}
}

func encrypted(c *Config) { c.Key = testKey }

// reopen is a restart: a new Service on the same store and folder.
func (e *env) reopen(t testing.TB) *Service {
	t.Helper()
	s, err := New(e.db, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return s
}

// consent stores a consent of callID and returns its id.
func (e *env) consent(t testing.TB, callID string, choice ivr.ConsentChoice) string {
	t.Helper()
	c := &ivr.Consent{CallID: callID, Caller: "+33100000001", Driver: "sip", Language: "fr",
		Flow: "accueil", FlowVersion: "3", Node: "consent", Prompt: "cet appel est susceptible d'être enregistré",
		Choice: choice}
	if choice == ivr.ConsentRefused {
		c.Key = "9"
	}
	if err := e.s.SaveConsent(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func meta(callID, consentID string, at time.Time) ivr.RecordingMeta {
	return ivr.RecordingMeta{CallID: callID, Caller: "+33100000001", Dialled: "3900",
		Driver: "sip", Flow: "accueil", FlowVersion: "3", Node: "rec", ConsentID: consentID, StartedAt: at}
}

// frames returns n samples of a distinct pattern per channel.
func frames(n int, seed int16) (left, right []int16) {
	left, right = make([]int16, n), make([]int16, n)
	for i := range n {
		left[i] = int16(i)*3 + seed
		right[i] = -int16(i)*5 - seed
	}
	return left, right
}

// record makes a complete recording of callID lasting ms milliseconds
// (20 ms frames) and returns its id.
func (e *env) record(t testing.TB, callID string, at time.Time, ms int) string {
	t.Helper()
	cid := e.consent(t, callID, ivr.ConsentAccepted)
	f, err := e.s.Create(t.Context(), meta(callID, cid, at))
	if err != nil {
		t.Fatal(err)
	}
	l, r := frames(160, 7)
	for range ms / 20 {
		if err := f.WriteFrames(l, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f.ID()
}

func (e *env) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	err := e.db.Write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), q, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Reader().QueryRowContext(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) relPath(t testing.TB, id string) string {
	t.Helper()
	var rel string
	if err := e.db.Reader().QueryRowContext(t.Context(), `SELECT rel_path FROM recordings WHERE id = ?`, id).Scan(&rel); err != nil {
		t.Fatalf("rel_path of %s: %v", id, err)
	}
	return rel
}

// files returns the rel paths of the files under the recordings folder,
// the quarantine folder included.
func (e *env) files(t testing.TB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			r, _ := filepath.Rel(e.dir, p)
			out[filepath.ToSlash(r)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkConsistent fails unless every file has its row and every finished
// row its file, and no recording is in the purge log twice or both
// purged and present.
func (e *env) checkConsistent(t testing.TB) {
	t.Helper()
	files := e.files(t)
	rows, err := e.db.Reader().QueryContext(t.Context(), `SELECT id, rel_path, state FROM recordings`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	rels := map[string]bool{}
	for rows.Next() {
		var id, rel, state string
		if err := rows.Scan(&id, &rel, &state); err != nil {
			t.Fatal(err)
		}
		rels[rel] = true
		if (state == "complete" || state == "recovered") && !files[rel] {
			t.Errorf("recording %s (%s) has no file %s", id, state, rel)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for f := range files {
		if !rels[strings.TrimSuffix(f, audiofile.PartSuffix)] && !strings.HasPrefix(f, QuarantineDir+"/") {
			t.Errorf("file %s has no recording row", f)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM (SELECT recording_id FROM purge_log GROUP BY recording_id HAVING count(*) > 1)`); n != 0 {
		t.Errorf("%d recordings logged more than once in the purge log", n)
	}
	if n := e.count(t, `SELECT count(*) FROM purge_log p JOIN recordings r ON r.id = p.recording_id`); n != 0 {
		t.Errorf("%d recordings both purged and present", n)
	}
}

func exists(t testing.TB, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err == nil {
		return true
	}
	if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return false
}

// watchSync records, through temporary triggers on the writer connection,
// the synchronous level in force when each event changes table: 2 (FULL)
// proves the write was committed durably.
func (e *env) watchSync(t testing.TB, event, table string) {
	t.Helper()
	name := "sync_" + strings.ToLower(strings.ReplaceAll(event, " ", "_")) + "_" + table
	e.exec(t, `CREATE TEMP TABLE IF NOT EXISTS sync_seen (tbl TEXT, level INTEGER)`)
	e.exec(t, `CREATE TEMP TRIGGER `+name+` AFTER `+event+` ON main.`+table+`
		BEGIN INSERT INTO sync_seen SELECT '`+table+`', synchronous FROM pragma_synchronous; END`)
}

// syncSeen returns the levels watchSync recorded for table.
func (e *env) syncSeen(t testing.TB, table string) []int {
	t.Helper()
	var out []int
	err := e.db.Write(t.Context(), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(t.Context(), `SELECT level FROM sync_seen WHERE tbl = ?`, table)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkDurable fails unless table saw want writes, all at synchronous=FULL.
func (e *env) checkDurable(t testing.TB, table string, want int) {
	t.Helper()
	seen := e.syncSeen(t, table)
	if len(seen) != want {
		t.Errorf("%s: %d writes seen, want %d", table, len(seen), want)
	}
	for _, lvl := range seen {
		if lvl != 2 {
			t.Errorf("%s written at synchronous=%d, want 2 (FULL)", table, lvl)
		}
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openTest(t *testing.T, opts ...Option) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "ivrd.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "ivrd.db")
	want, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != want[len(want)-1].version {
			t.Errorf("open #%d: schema version %d, want %d", i+1, v, want[len(want)-1].version)
		}
		var n int
		if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Errorf("open #%d: %d rows in schema_migrations, want %d", i+1, n, len(want))
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPragmas(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		pragma string
		want   string
	}{
		{"journal mode", nil, "journal_mode", "wal"},
		{"foreign keys", nil, "foreign_keys", "1"},
		{"busy timeout", nil, "busy_timeout", "5000"},
		{"synchronous default NORMAL", nil, "synchronous", "1"},
		{"synchronous FULL", []Option{WithSynchronous("full")}, "synchronous", "2"},
		{"busy timeout option", []Option{WithBusyTimeout(250 * time.Millisecond)}, "busy_timeout", "250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t, tt.opts...)
			for name, pool := range map[string]*sql.DB{"writer": db.w, "reader": db.r} {
				var got string
				if err := pool.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("%s: PRAGMA %s = %q, want %q", name, tt.pragma, got, tt.want)
				}
			}
		})
	}
}

func TestReaderIsReadOnly(t *testing.T) {
	db := openTest(t)
	_, err := db.Reader().ExecContext(t.Context(), `DELETE FROM calls`)
	if err == nil {
		t.Fatal("write through the reader pool succeeded")
	}
}

// A reader must not wait for a writer in the middle of a transaction.
func TestReadersDoNotBlockOnWriter(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	inTx := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO calls (id, started_at) VALUES ('a', ?)`, FormatTime(time.Now())); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var n int
	err := db.Reader().QueryRowContext(qctx, `SELECT count(*) FROM calls`).Scan(&n)
	close(release)
	if err != nil {
		t.Fatalf("read during write: %v", err)
	}
	if n != 0 {
		t.Errorf("reader saw %d uncommitted rows", n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWriteRollsBack(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	boom := errors.New("boom")
	err := db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO calls (id, started_at) VALUES ('a', ?)`, FormatTime(time.Now())); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM calls`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows after rollback", n)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		opts []Option
	}{
		{"empty path", "", nil},
		{"parent is a file", filepath.Join(file, "ivrd.db"), nil},
		{"path is a directory", dir, nil},
		{"not a database", notDB, nil},
		{"bad synchronous", filepath.Join(dir, "ok.db"), []Option{WithSynchronous("sometimes")}},
		{"bad readers", filepath.Join(dir, "ok.db"), []Option{WithReaders(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(t.Context(), tt.path, tt.opts...)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if want := "open store " + tt.path + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ivrd.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open = %v, want ErrSchemaTooNew", err)
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?#%", "ivrd.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %s: %v", path, err)
	}
}

func TestTimeFormatSortsAsTime(t *testing.T) {
	base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	times := []time.Time{
		base,
		base.Add(time.Nanosecond),
		base.Add(100 * time.Millisecond),
		base.Add(time.Second),
		base.Add(10 * time.Hour).In(time.FixedZone("X", -7*3600)),
	}
	for i := 1; i < len(times); i++ {
		a, b := FormatTime(times[i-1]), FormatTime(times[i])
		if a >= b {
			t.Errorf("FormatTime(%v) = %q not before FormatTime(%v) = %q", times[i-1], a, times[i], b)
		}
		got, err := ParseTime(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(times[i]) {
			t.Errorf("ParseTime(%q) = %v, want %v", b, got, times[i])
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
}

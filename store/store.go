package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// DB is an open ivrd database: one writer connection and a pool of readers.
type DB struct {
	path string
	w    *sql.DB
	r    *sql.DB
}

// Open opens (creating it and its directory if needed) the SQLite database at
// path and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	db, err := open(ctx, path, o)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

func open(ctx context.Context, path string, o options) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, err
	}

	w, err := sql.Open("sqlite3", dsn(abs, o, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	// Keep the one connection forever: reopening it costs a schema parse
	// and, on the last close, a WAL checkpoint.
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// The first connection switches the file to WAL; readers opened after
	// that find it already in WAL mode.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite3", dsn(abs, o, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.readers)
	r.SetMaxIdleConns(o.readers)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	return &DB{path: abs, w: w, r: r}, nil
}

// dsn builds a file: URI so that any character in the path is escaped, with
// the driver's pragma parameters. Readers are query-only; the writer takes
// its lock when a transaction begins (BEGIN IMMEDIATE), which avoids the
// deadlock of two deferred transactions both upgrading to write.
func dsn(path string, o options, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", strconv.FormatInt(o.busyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", o.synchronous)
	if readOnly {
		q.Set("_query_only", "on")
	} else {
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	return u.String() + "?" + q.Encode()
}

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Reader is the pool of read-only connections, for queries.
func (db *DB) Reader() *sql.DB { return db.r }

// Write runs fn in a write transaction, committing when fn returns nil and
// rolling back otherwise. Writers are serialised on the single writer
// connection; a writer waiting for its turn gives up when ctx is done.
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// timeLayout is how times are stored: UTC, fixed width, so that text order
// is time order and SQLite's date functions can read them.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime formats t in the storage layout.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime parses a time in the storage layout.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: %w", s, err)
	}
	return t, nil
}

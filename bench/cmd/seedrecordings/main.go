// Command seedrecordings fills an ivrd store with recordings that expire
// soon, each with a small file, for the purge benchmark of
// scripts/purge-load.sh: the purge then has real rows and files to delete
// while calls are running.
//
//	seedrecordings -db data/ivrd.db -dir data/recordings -n 100000 -expire-in 60s
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ivrd/ivrd/recordings"
	"github.com/ivrd/ivrd/store"
)

func main() {
	dbPath := flag.String("db", "data/ivrd.db", "ivrd's SQLite file")
	dir := flag.String("dir", "data/recordings", "recordings folder")
	n := flag.Int("n", 100000, "recordings to add")
	expireIn := flag.Duration("expire-in", time.Minute, "when they expire, from now")
	size := flag.Int("size", 1024, "bytes per file")
	flag.Parse()
	if err := seed(context.Background(), *dbPath, *dir, *n, *expireIn, *size); err != nil {
		fmt.Fprintln(os.Stderr, "seedrecordings:", err)
		os.Exit(1)
	}
}

func seed(ctx context.Context, dbPath, dir string, n int, expireIn time.Duration, size int) error {
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	expires := time.Now().Add(expireIn)
	started := expires.Add(-recordings.DefaultRetention)
	body := make([]byte, size)
	copy(body, "IVRDREC1") // not a WAV: the purge never reads it
	sum := strings.Repeat("0", 64)
	consent := uuid.NewString()
	t0 := time.Now()
	err = db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO consents (id, call_id, at, choice)
			VALUES (?, 'bench-seed', ?, 'accepted')`, consent, store.FormatTime(started)); err != nil {
			return fmt.Errorf("insert consent: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO recordings (id, call_id, consent_id,
			started_at, ended_at, duration_ms, size, sha256, rel_path, state, expires_at)
			VALUES (?, 'bench-seed', ?, ?, ?, 1000, ?, ?, ?, 'complete', ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			at := started.Add(time.Duration(i) * time.Millisecond)
			id := uuid.NewString()
			rel := at.UTC().Format("2006/01/02") + "/" + id + ".wav"
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				return err
			}
			if err := os.WriteFile(p, body, 0o600); err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, id, consent, store.FormatTime(at), store.FormatTime(at.Add(time.Second)),
				size, sum, rel, store.FormatTime(expires.Add(time.Duration(i)*time.Microsecond))); err != nil {
				return fmt.Errorf("insert recording %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("seedrecordings: %d recordings expiring at %s, in %v\n", n, expires.Format(time.RFC3339), time.Since(t0).Round(time.Millisecond))
	return nil
}

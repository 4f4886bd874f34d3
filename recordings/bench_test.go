package recordings

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/ivr"
	"github.com/ivrd/ivrd/store"
)

// seedExpired inserts n expired, complete recordings of one call, each
// with a small file, in one transaction, spread over 100 days of folders.
func seedExpired(b *testing.B, e *env, n int) {
	b.Helper()
	ctx := context.Background()
	cid := e.consent(b, "call-bench", ivr.ConsentAccepted)
	sum := strings.Repeat("ab", 32)
	wav := make([]byte, 64)
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO recordings (id, call_id, consent_id,
			started_at, ended_at, duration_ms, size, sha256, rel_path, state, expires_at)
			VALUES (?, 'call-bench', ?, ?, ?, 0, ?, ?, ?, 'complete', ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			start := t0.Add(-300*day + time.Duration(i%100)*day + time.Duration(i)*time.Millisecond)
			id := fmt.Sprintf("bench-%06d", i)
			rel := start.Format("2006/01/02") + "/" + id + ".wav"
			p := filepath.Join(e.dir, filepath.FromSlash(rel))
			if i < 100 {
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					return err
				}
			}
			if err := os.WriteFile(p, wav, 0o600); err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, id, cid, store.FormatTime(start), store.FormatTime(start),
				len(wav), sum, rel, store.FormatTime(start.Add(DefaultRetention))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPurge100k purges 100,000 expired recordings with their files.
// Besides rows/s it reports how long another writer of the store (the
// call log, the queue) waited at most, and at the 99th percentile, for a
// tiny write while the purge ran: the purge holds the write lock one batch
// at a time.
func BenchmarkPurge100k(b *testing.B) {
	const n = 100_000
	var waits []time.Duration
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		// The store's own speed: ivrd paces its purges (defaultPurgeRate),
		// scripts/purge-load.sh measures that beside live calls.
		e.s.purgeRate = 0
		seedExpired(b, e, n)
		e.clock.Set(t0)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // another writer of the store, every millisecond
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				err := e.db.Write(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO calls (id, started_at) VALUES (?, ?)
						ON CONFLICT (id) DO UPDATE SET digits = digits || '1'`, "bench", store.FormatTime(t0))
					return err
				})
				if err == nil {
					waits = append(waits, time.Since(start))
				}
				time.Sleep(time.Millisecond)
			}
		}()
		b.StartTimer()
		rep, err := e.s.Purge(context.Background(), false)
		b.StopTimer()
		cancel()
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Items) != n {
			b.Fatalf("purged %d, want %d", len(rep.Items), n)
		}
		if left := e.count(b, `SELECT count(*) FROM recordings`); left != 0 {
			b.Fatalf("%d rows left", left)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	if len(waits) > 0 {
		slices.Sort(waits)
		b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99-write-wait-ms")
		b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "max-write-wait-ms")
	}
	b.ReportMetric(0, "ns/op")
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"
)

func synchronousLevel(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriteDurableSynchronous(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		inside int
		after  int
	}{
		{"default NORMAL raised to FULL", nil, 2, 1},
		{"OFF raised to FULL", []Option{WithSynchronous("off")}, 2, 0},
		{"FULL stays FULL", []Option{WithSynchronous("full")}, 2, 2},
		{"EXTRA is not lowered", []Option{WithSynchronous("extra")}, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t, tt.opts...)
			ctx := t.Context()
			inside := -1
			err := db.WriteDurable(ctx, func(tx *sql.Tx) error {
				inside = synchronousLevel(t, tx)
				_, err := tx.ExecContext(ctx, `INSERT INTO calls (id, started_at) VALUES ('a', ?)`, FormatTime(time.Now()))
				return err
			})
			if err != nil {
				t.Fatalf("WriteDurable: %v", err)
			}
			if inside != tt.inside {
				t.Errorf("PRAGMA synchronous inside = %d, want %d", inside, tt.inside)
			}
			// The writer pool has one connection: this is the one that
			// committed.
			if got := synchronousLevel(t, db.w); got != tt.after {
				t.Errorf("PRAGMA synchronous after = %d, want %d", got, tt.after)
			}
			var n int
			if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM calls`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d rows after commit, want 1", n)
			}
		})
	}
}

func TestWriteDurableRollsBackAndRestores(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	boom := errors.New("boom")
	err := db.WriteDurable(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO calls (id, started_at) VALUES ('a', ?)`, FormatTime(time.Now())); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteDurable = %v, want %v", err, boom)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM calls`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows after rollback", n)
	}
	if got := synchronousLevel(t, db.w); got != 1 {
		t.Errorf("PRAGMA synchronous after rollback = %d, want 1", got)
	}
}

// A durable write whose context ends mid-transaction still hands the
// connection back at the store's level.
func TestWriteDurableCancelledRestores(t *testing.T) {
	db := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := db.WriteDurable(ctx, func(tx *sql.Tx) error {
		cancel()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteDurable = %v, want context.Canceled", err)
	}
	if got := synchronousLevel(t, db.w); got != 1 {
		t.Errorf("PRAGMA synchronous after cancel = %d, want 1", got)
	}
	// The writer is free again.
	if err := db.Write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `INSERT INTO calls (id, started_at) VALUES ('b', ?)`, FormatTime(time.Now()))
		return err
	}); err != nil {
		t.Fatalf("Write after cancelled WriteDurable: %v", err)
	}
}

// Durable and ordinary writers share the single writer connection without
// deadlocking, and each sees its own level.
func TestWriteDurableInterleaved(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	errc := make(chan error, 2)
	const n = 50
	go func() {
		for i := range n {
			err := db.WriteDurable(ctx, func(tx *sql.Tx) error {
				var lvl int
				if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&lvl); err != nil {
					return err
				}
				if lvl != 2 {
					return errors.New("durable write not at FULL")
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO calls (id, started_at) VALUES (?, ?)`, fmt.Sprintf("d%d", i), FormatTime(time.Now()))
				return err
			})
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		for range n {
			err := db.Write(ctx, func(tx *sql.Tx) error {
				var lvl int
				if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&lvl); err != nil {
					return err
				}
				if lvl != 1 {
					return errors.New("ordinary write not at NORMAL")
				}
				return nil
			})
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// WriteDurable runs fn in a write transaction like Write, but commits it
// with PRAGMA synchronous=FULL, so that when WriteDurable returns nil the
// commit is on disk even if the machine loses power right after. The store
// runs at NORMAL otherwise, where an OS crash may drop the last commits:
// right for the call log, not for what the law asks to keep (recording
// consents, the access audit, the purge log, legal holds).
//
// The pragma is per connection: WriteDurable pins the writer connection,
// raises it for this one transaction and puts the store's level back before
// releasing the connection, so other writers keep their cheaper commits.
func (db *DB) WriteDurable(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("get writer connection: %w", err)
	}
	// The level is read from the connection rather than kept in DB, so a
	// store opened at FULL or EXTRA is never lowered.
	var level int
	if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
		conn.Close()
		return fmt.Errorf("read synchronous level: %w", err)
	}
	raised := level < syncFull
	if raised {
		if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
			conn.Close()
			return fmt.Errorf("set synchronous FULL: %w", err)
		}
	}
	txErr := runTx(ctx, conn, fn)
	if raised {
		// Restored even when ctx is done: the connection goes back to the
		// pool and must not keep syncing every commit.
		rctx := context.WithoutCancel(ctx)
		if _, err := conn.ExecContext(rctx, fmt.Sprintf(`PRAGMA synchronous = %d`, level)); err != nil {
			// A connection that cannot be put back to its level is thrown
			// away; the pool opens a fresh one with the configured level.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			conn.Close()
			return errors.Join(txErr, fmt.Errorf("restore synchronous level %d: %w", level, err))
		}
	}
	if err := conn.Close(); err != nil && txErr == nil {
		return fmt.Errorf("release writer connection: %w", err)
	}
	return txErr
}

// syncFull is the value PRAGMA synchronous reads for FULL.
const syncFull = 2

func runTx(ctx context.Context, conn *sql.Conn, fn func(tx *sql.Tx) error) error {
	// The writer's DSN sets _txlock=immediate: BeginTx takes the write lock
	// now rather than at the first write.
	tx, err := conn.BeginTx(ctx, nil)
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

// Package store keeps ivrd's state in a SQLite database: the call log and the
// rows of the routing queue.
//
// The database runs in WAL mode so readers (the HTTP API, reports) never wait
// for the writer. SQLite allows one writer at a time, so the DB keeps a
// writer pool of exactly one connection, where Go queues writers with their
// contexts instead of letting them fight over the file lock, and a separate
// pool of read-only connections for queries.
//
// The schema is versioned: migrations are SQL files embedded in the binary,
// applied in order, each in its own transaction, and recorded in the
// schema_migrations table, so opening a database twice is harmless.
package store

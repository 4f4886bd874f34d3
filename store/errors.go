package store

import "errors"

var (
	// ErrNotFound: no row has the requested id.
	ErrNotFound = errors.New("not found")
	// ErrSchemaTooNew: the database was migrated by a newer ivrd; this one
	// would not know its tables.
	ErrSchemaTooNew = errors.New("database schema is newer than this ivrd")
)

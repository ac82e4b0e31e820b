//go:build !unix

package store

// LockSoleReplica does nothing where flock is missing: run one bot per SQLite file.
func (s *Store) LockSoleReplica() error { return nil }

func (e *sqliteEngine) unlock() {}

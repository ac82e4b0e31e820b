//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// LockSoleReplica makes this process the only bot serving a SQLite store: it
// takes an exclusive lock (flock) on the file's .lock sibling, held until
// Close. A second bot on the same file is refused, since SQLite's locking
// works only on one host and several processes on one file slow every
// answer; several replicas need PostgreSQL. The admin subcommands do not
// take it. On PostgreSQL it does nothing.
func (s *Store) LockSoleReplica() error {
	e, ok := s.eng.(*sqliteEngine)
	if !ok {
		return nil
	}
	path := s.name + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store %s: cannot create the lock file %s: %w", s.name, path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("store %s: another bindtester is already serving this SQLite database; "+
				"run one bot per SQLite file, or, for several replicas, point every replica's BINDTESTER_DB at one PostgreSQL database (postgres://…)", s.name)
		}
		return fmt.Errorf("store %s: lock %s: %w", s.name, path, err)
	}
	e.lock = f
	return nil
}

func (e *sqliteEngine) unlock() {
	if e.lock != nil {
		e.lock.Close() // closing the file releases the flock
		e.lock = nil
	}
}

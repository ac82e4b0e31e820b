package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// What the tests see of the SQLite committer (groupcommit.go).

// sqliteCommits is how many transactions s's committer has committed: 0 on PostgreSQL.
func (s *Store) sqliteCommits() int64 {
	if s.gc == nil {
		return 0
	}
	return s.gc.commits.Load()
}

// holdCommitter makes s's committer run a write that blocks until release
// is called, so the writes handed in meanwhile queue up and make its next
// batch. The committer's transaction holds one of the pool's connections
// until then.
// release is also called when the test ends (before the store is closed).
func holdCommitter(t testing.TB, s *Store) (release func()) {
	t.Helper()
	started, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), "hold the committer", func(context.Context, tx) error {
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			if err := <-done; err != nil {
				t.Errorf("the write holding the committer: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n writes are queued for s's committer.
func waitQueued(t testing.TB, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.gc.waiting.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued for the committer after 10 s, want %d", s.gc.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// committerClosed reports whether s's committer refuses new writes.
func committerClosed(s *Store) bool {
	s.gc.mu.RLock()
	defer s.gc.mu.RUnlock()
	return s.gc.closed
}

//go:build unix

package store

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/internal/pgtest"
)

func TestLockSoleReplica(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	first := openTest(t, path, testKey)
	if err := first.LockSoleReplica(); err != nil {
		t.Fatalf("first bot: %v", err)
	}
	// A second bot may open the file (the admin subcommands do) but not serve it.
	second := openTest(t, path, testKey)
	err := second.LockSoleReplica()
	if err == nil {
		t.Fatal("a second bot took the lock of a SQLite store already served")
	}
	for _, w := range []string{path, "another bindtester is already serving", "PostgreSQL"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.LockSoleReplica(); err != nil {
		t.Errorf("after the first bot stopped, the second cannot serve: %v", err)
	}
}

func TestLockSoleReplicaIsANoOpOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	for i := range 2 {
		if err := openTest(t, dsn, testKey).LockSoleReplica(); err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

package store

import (
	"path/filepath"
	"testing"

	"github.com/bindtester/bindtester/internal/pgtest"
)

// engines are the databases the store suite runs against: every behaviour
// test runs, unchanged, once per engine. dsn gives a new, empty database.
var engines = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "bindtester.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
}

// eachEngine runs test against a new store on each engine.
func eachEngine(t *testing.T, test func(t *testing.T, s *Store)) {
	t.Helper()
	eachEngineDSN(t, func(t *testing.T, dsn string) { test(t, openTest(t, dsn, testKey)) })
}

// eachEngineDSN runs test with a new, empty database on each engine, for
// tests that open and reopen it themselves.
func eachEngineDSN(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { test(t, e.dsn(t)) })
	}
}

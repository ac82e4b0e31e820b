// Package pgtest is the test helper that gives each test its own PostgreSQL database.
//
// The server comes from the environment variable BINDTESTER_TEST_POSTGRES, an admin URL such as
//
//	postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable
//
// The repository's script .ci/postgres starts such a server on 127.0.0.1 and prints the export line:
//
//	eval "$(bash .ci/postgres)"
//	go test -race -count=1 ./...
//
// Without the variable, tests that need PostgreSQL are skipped with a message saying how to run
// them, except when CI=true: then they fail, so CI never silently skips them.
//
// [DSN] creates a brand-new empty database (UTF8, C collation, from template0) with a unique name
// for the calling test and drops it WITH (FORCE) when the test ends, so tests may run in parallel,
// in any package, against the same server. Connections made by this package are short-lived: it
// opens one, runs CREATE or DROP DATABASE, and closes it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the environment variable holding the admin URL of the test server.
const EnvVar = "BINDTESTER_TEST_POSTGRES"

// NamePrefix starts the name of every database [DSN] creates, so leftovers of killed test runs
// are easy to find (SELECT datname FROM pg_database WHERE datname LIKE 'bindtester_test_%').
const NamePrefix = "bindtester_test_"

// howToRun tells a developer how to get a server for the PostgreSQL tests.
const howToRun = `set ` + EnvVar + ` to an admin URL of a PostgreSQL (13 or later) server, ` +
	`e.g. run  eval "$(bash .ci/postgres)"  in the repository root, which starts one on 127.0.0.1 ` +
	`and exports ` + EnvVar

// opTimeout bounds each connect + CREATE/DROP DATABASE.
const opTimeout = 30 * time.Second

// AdminDSN returns the admin URL of the test server from BINDTESTER_TEST_POSTGRES. If the variable
// is unset or empty it skips the test with a message saying how to run the PostgreSQL tests, or
// fails it when the environment variable CI is "true". It fails the test if the value is not a
// postgres:// or postgresql:// URL.
func AdminDSN(t testing.TB) string {
	t.Helper()
	dsn := strings.TrimSpace(os.Getenv(EnvVar))
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgtest: " + EnvVar + " is not set, and CI=true forbids skipping the PostgreSQL tests: " + howToRun)
		} else {
			t.Skip("pgtest: skipping PostgreSQL test: " + howToRun)
		}
		return "" // not reached with a real *testing.T
	}
	if _, err := parseURL(dsn); err != nil {
		t.Fatalf("pgtest: %s: %v", EnvVar, err)
		return ""
	}
	return dsn
}

// DSN returns a postgres:// URL of a brand-new empty database created for this test on the
// server of [AdminDSN] (same skip rules), with a unique name starting with [NamePrefix]. The
// database is dropped WITH (FORCE) in t.Cleanup, closing any connections still open to it.
func DSN(t testing.TB) string {
	t.Helper()
	admin := AdminDSN(t)
	if admin == "" {
		return "" // only with a fake testing.TB whose Skip/Fatal return
	}
	name := dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() +
		" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
	if err := execAdmin(ctx, admin, create); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
		return ""
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
		if err := execAdmin(ctx, admin, drop); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return WithDatabase(admin, name)
}

// WithDatabase returns the URL dsn with its database name replaced by db (e.g. to point a test at a
// database that does not exist). It panics if dsn is not a postgres:// or postgresql:// URL;
// [AdminDSN] and [DSN] always return such URLs.
func WithDatabase(dsn, db string) string {
	u := mustParseURL(dsn)
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// WithUser returns the URL dsn with its user name replaced by user, keeping its password if any.
// It panics like [WithDatabase].
func WithUser(dsn, user string) string {
	u := mustParseURL(dsn)
	if pw, ok := u.User.Password(); ok {
		u.User = url.UserPassword(user, pw)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// WithPassword returns the URL dsn with its password replaced by password (its user name kept). It
// panics like [WithDatabase]. Note that a server using trust authentication, such as the one
// .ci/postgres starts, accepts any password: to make a connection fail, use [WithUser] with an
// unknown role or [WithDatabase] with an unknown database.
func WithPassword(dsn, password string) string {
	u := mustParseURL(dsn)
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// execAdmin opens a connection to dsn, runs sql and closes the connection.
func execAdmin(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("%w (is the server of %s running? %s)", err, EnvVar, `eval "$(bash .ci/postgres)" starts one`)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// dbName returns a unique, valid, lower-case database name (at most 63 bytes) mentioning testName.
func dbName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 30 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic("pgtest: crypto/rand: " + err.Error())
	}
	return NamePrefix + b.String() + "_" + hex.EncodeToString(rnd[:])
}

func parseURL(dsn string) (*url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // without the URL itself, which may hold a password
		}
		return nil, fmt.Errorf("not a valid URL: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("want a postgres:// or postgresql:// URL, got scheme %q", u.Scheme)
	}
	return u, nil
}

func mustParseURL(dsn string) *url.URL {
	u, err := parseURL(dsn)
	if err != nil {
		panic("pgtest: " + err.Error())
	}
	return u
}

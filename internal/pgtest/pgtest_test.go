package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// fakeTB records Skip and Fatal instead of acting on them; it must run in its own goroutine, as
// they end it with runtime.Goexit like the real ones.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Skip(args ...any)          { f.end(&f.skipped, fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(s string, a ...any)  { f.end(&f.skipped, fmt.Sprintf(s, a...)) }
func (f *fakeTB) Fatal(args ...any)         { f.end(&f.failed, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(s string, a ...any) { f.end(&f.failed, fmt.Sprintf(s, a...)) }
func (f *fakeTB) end(flag *bool, msg string) {
	*flag, f.msg = true, msg
	runtime.Goexit()
}

// runFake calls fn with a fakeTB wrapping t in a goroutine and returns the fake once fn is over.
func runFake(t *testing.T, fn func(testing.TB) string) (*fakeTB, string) {
	f := &fakeTB{TB: t}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = fn(f)
	}()
	<-done
	return f, got
}

func TestNoServerSkipsOrFailsUnderCI(t *testing.T) {
	for _, fn := range []struct {
		name string
		fn   func(testing.TB) string
	}{{"AdminDSN", AdminDSN}, {"DSN", DSN}} {
		t.Run(fn.name+"/local", func(t *testing.T) {
			t.Setenv(EnvVar, "")
			t.Setenv("CI", "")
			f, got := runFake(t, fn.fn)
			if !f.skipped || f.failed || got != "" {
				t.Fatalf("skipped=%v failed=%v got=%q, want a skip", f.skipped, f.failed, got)
			}
			for _, want := range []string{EnvVar, ".ci/postgres"} {
				if !strings.Contains(f.msg, want) {
					t.Errorf("skip message %q does not mention %q", f.msg, want)
				}
			}
		})
		t.Run(fn.name+"/CI", func(t *testing.T) {
			t.Setenv(EnvVar, "")
			t.Setenv("CI", "true")
			f, got := runFake(t, fn.fn)
			if f.skipped || !f.failed || got != "" {
				t.Fatalf("skipped=%v failed=%v got=%q, want a failure", f.skipped, f.failed, got)
			}
			for _, want := range []string{EnvVar, ".ci/postgres", "CI=true"} {
				if !strings.Contains(f.msg, want) {
					t.Errorf("failure message %q does not mention %q", f.msg, want)
				}
			}
		})
	}
	t.Run("not a URL", func(t *testing.T) {
		t.Setenv(EnvVar, "host=127.0.0.1 user=postgres password=s3cret")
		f, _ := runFake(t, AdminDSN)
		if !f.failed {
			t.Fatalf("skipped=%v failed=%v, want a failure for a keyword/value DSN", f.skipped, f.failed)
		}
		if strings.Contains(f.msg, "s3cret") {
			t.Errorf("failure message %q shows the password", f.msg)
		}
	})
}

func TestURLHelpers(t *testing.T) {
	const base = "postgres://alice:pw@127.0.0.1:5432/postgres?sslmode=disable"
	for _, c := range []struct{ got, want string }{
		{WithDatabase(base, "other"), "postgres://alice:pw@127.0.0.1:5432/other?sslmode=disable"},
		{WithUser(base, "bob"), "postgres://bob:pw@127.0.0.1:5432/postgres?sslmode=disable"},
		{WithUser("postgres://alice@h/db", "bob"), "postgres://bob@h/db"},
		{WithPassword(base, "wrong"), "postgres://alice:wrong@127.0.0.1:5432/postgres?sslmode=disable"},
		{WithPassword("postgresql://alice@h/db", "p@ss/w:rd"), "postgresql://alice:p%40ss%2Fw%3Ard@h/db"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	if u, _ := url.Parse(WithPassword(base, "p@ss/w:rd")); u != nil {
		if pw, _ := u.User.Password(); pw != "p@ss/w:rd" {
			t.Errorf("password round trip: got %q", pw)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("WithDatabase accepted a keyword/value DSN")
			}
		}()
		WithDatabase("host=h dbname=x", "y")
	}()
}

func TestDBName(t *testing.T) {
	long := strings.Repeat("TestSomething/With Spaces-And.Dots", 5)
	a, b := dbName(long), dbName(long)
	if a == b {
		t.Fatalf("two names for one test are equal: %s", a)
	}
	for _, n := range []string{a, b, dbName("")} {
		if len(n) > 63 || !strings.HasPrefix(n, NamePrefix) || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("bad database name %q (%d bytes)", n, len(n))
		}
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return conn
}

func dbExists(t *testing.T, admin, name string) bool {
	t.Helper()
	conn := connect(t, admin)
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestDSN checks from the parent test that the database made for a subtest exists and is empty
// and usable during the subtest, and is gone once the subtest (and so its cleanup) is over, even
// though a connection to it was left open.
func TestDSN(t *testing.T) {
	admin := AdminDSN(t)
	ctx := context.Background()
	var names []string
	var leftOpen *pgx.Conn
	t.Run("fresh", func(t *testing.T) {
		dsn, dsn2 := DSN(t), DSN(t)
		if dsn == dsn2 {
			t.Fatalf("two calls gave the same database %s", dsn)
		}
		for _, d := range []string{dsn, dsn2} {
			u, err := url.Parse(d)
			if err != nil || u.Scheme != "postgres" {
				t.Fatalf("DSN %q: not a postgres:// URL (%v)", d, err)
			}
			names = append(names, strings.TrimPrefix(u.Path, "/"))
		}
		for _, n := range names {
			if !dbExists(t, admin, n) {
				t.Fatalf("database %s does not exist during the test", n)
			}
		}

		conn := connect(t, dsn)
		defer conn.Close(ctx)
		var cur string
		var tables int
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&cur); err != nil || cur != names[0] {
			t.Fatalf("current_database() = %q, %v; want %s", cur, err, names[0])
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&tables); err != nil || tables != 0 {
			t.Fatalf("new database has %d relations (%v), want 0", tables, err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id bigint PRIMARY KEY, s text); INSERT INTO t VALUES (1, '体验者')"); err != nil {
			t.Fatalf("using the database: %v", err)
		}

		// Left open on purpose: DROP DATABASE ... WITH (FORCE) must not wait for it.
		leftOpen = connect(t, dsn2)

		// A URL naming a database that does not exist is refused.
		if c, err := pgx.Connect(ctx, WithDatabase(dsn, names[0]+"_missing")); err == nil {
			c.Close(ctx)
			t.Error("connected to a database that does not exist")
		} else if code := pgCode(err); code != "3D000" {
			t.Errorf("wrong database: got %v (SQLSTATE %q), want SQLSTATE 3D000", err, code)
		}
		// So is an unknown role.
		if c, err := pgx.Connect(ctx, WithUser(dsn, "bindtester_no_such_role")); err == nil {
			c.Close(ctx)
			t.Error("connected as a role that does not exist")
		}
	})
	if leftOpen != nil {
		defer leftOpen.Close(ctx)
	}
	if len(names) != 2 {
		t.Fatal("subtest did not get its databases")
	}
	for _, n := range names {
		if dbExists(t, admin, n) {
			t.Errorf("database %s still exists after its test ended", n)
		}
	}
}

// TestParallel checks that parallel tests get separate databases.
func TestParallel(t *testing.T) {
	AdminDSN(t)
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, DSN(t))
			defer conn.Close(context.Background())
			ctx := context.Background()
			if _, err := conn.Exec(ctx, "CREATE TABLE t (n int)"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", i); err != nil {
				t.Fatal(err)
			}
			var n, count int
			if err := conn.QueryRow(ctx, "SELECT min(n), count(*) FROM t").Scan(&n, &count); err != nil || n != i || count != 1 {
				t.Fatalf("got n=%d count=%d (%v), want n=%d count=1", n, count, err, i)
			}
		})
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/internal/pgtest"
)

// testPassword is put in every URL below: the test server trusts any
// password, and no message may show it.
const testPassword = "s3cretpw"

// pgExec runs statements on the PostgreSQL database at dsn.
func pgExec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range stmts {
		if _, err := d.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// pgTables lists the tables of the PostgreSQL database at dsn.
func pgTables(t *testing.T, dsn string) []string {
	t.Helper()
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	return tables
}

// closedPort is a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func wantErrSays(t *testing.T, what string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want an error saying %q", what, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %v\n  does not say %q", what, err, w)
		}
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("%s: the error shows the password: %v", what, err)
	}
}

func TestPostgresOpenFailsClearly(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T) string // the URL to open
		want  []string
	}{
		{"database does not exist", func(t *testing.T) string {
			return pgtest.WithDatabase(pgtest.DSN(t), "bindtester_nosuchdb")
		}, []string{`database "bindtester_nosuchdb" does not exist`, "createdb bindtester_nosuchdb"}},
		{"server unreachable", func(t *testing.T) string {
			return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/bindtester?sslmode=disable&connect_timeout=5", closedPort(t))
		}, []string{"cannot reach the PostgreSQL server", "127.0.0.1:"}},
		{"user does not exist", func(t *testing.T) string {
			return pgtest.WithUser(pgtest.DSN(t), "bindtester_no_such_role")
		}, []string{`does not let user "bindtester_no_such_role"`, `role "bindtester_no_such_role" does not exist`}},
		{"schema newer than this release", func(t *testing.T) string {
			dsn := pgtest.DSN(t)
			openTest(t, dsn, testKey).Close()
			pgExec(t, dsn, `UPDATE bindtester_schema SET version = version + 1`)
			return dsn
		}, []string{fmt.Sprintf("schema version %d is newer than this bindtester knows", len(postgresMigrations)+1), "run a newer release"}},
		{"another program's database", func(t *testing.T) string {
			dsn := pgtest.DSN(t)
			pgExec(t, dsn, `CREATE TABLE foo (x int)`)
			return dsn
		}, []string{"not a bindtester store", "a database of its own"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.WithPassword(tc.setup(t), testPassword)
			var before []string
			reachable := !strings.Contains(tc.name, "unreachable") && !strings.Contains(tc.name, "not exist")
			if reachable {
				before = pgTables(t, dsn)
			}
			s, err := Open(ctx, dsn, testKey)
			if err == nil {
				s.Close()
			}
			wantErrSays(t, "Open", err, append(tc.want, Describe(dsn)))
			wantErrSays(t, "CheckPostgres", CheckPostgres(ctx, dsn), tc.want)
			if reachable {
				if after := pgTables(t, dsn); strings.Join(after, ",") != strings.Join(before, ",") {
					t.Errorf("a refused Open or CheckPostgres changed the tables from %v to %v", before, after)
				}
			}
		})
	}
}

func TestPostgresCheckDoesNotWrite(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if err := CheckPostgres(ctx, dsn); err != nil {
		t.Fatalf("CheckPostgres of an empty database: %v", err)
	}
	if tables := pgTables(t, dsn); len(tables) != 0 {
		t.Errorf("CheckPostgres created %v", tables)
	}
	openTest(t, dsn, testKey).Close()
	if err := CheckPostgres(ctx, dsn); err != nil {
		t.Errorf("CheckPostgres of a store: %v", err)
	}
}

func TestPostgresOpenChecksTheKey(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.WithPassword(pgtest.DSN(t), testPassword)
	s := openTest(t, dsn, testKey)
	g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour)}, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, dsn, otherKey)
	if err == nil {
		s.Close()
		t.Fatal("Open with another key succeeded")
	}
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with another key: %v, want ErrWrongKey", err)
	}
	wantErrSays(t, "Open with another key", err, []string{Describe(dsn), "restore the key file or BINDTESTER_STORE_KEY"})

	s = openTest(t, dsn, testKey)
	if got, err := s.FindGrant(ctx, "wxapp", "tester_one"); err != nil || got.ID != g.ID {
		t.Errorf("with the right key FindGrant = %+v, %v", got, err)
	}
}

func TestPostgresConcurrentFirstOpens(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(ctx, dsn, testKey)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	var rows, version, checks int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*), max(version) FROM bindtester_schema`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != len(postgresMigrations) {
		t.Errorf("bindtester_schema has %d rows, version %d; want 1 row, version %d", rows, version, len(postgresMigrations))
	}
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE name = 'key_check'`).Scan(&checks); err != nil {
		t.Fatal(err)
	}
	if checks != 1 {
		t.Errorf("%d key checks, want 1", checks)
	}
	// They agree: what one seals, another finds and unseals.
	g, err := stores[0].SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour)}, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stores[n-1].FindGrant(ctx, "wxapp", "tester_one"); err != nil || got.ID != g.ID {
		t.Errorf("another replica's FindGrant = %+v, %v", got, err)
	}
	if id, err := stores[n-1].GrantWechatID(ctx, g.ID); err != nil || id != "tester_one" {
		t.Errorf("another replica's GrantWechatID = %q, %v", id, err)
	}
	if s, err := Open(ctx, dsn, otherKey); !errors.Is(err, ErrWrongKey) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open with another key after the race: %v, want ErrWrongKey", err)
	}
}

func TestDescribeHidesThePassword(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:secret@host/db", "postgres://u@host:5432/db"},
		{"postgresql://u:secret@db.internal:6543/bindtester?sslmode=require", "postgres://u@db.internal:6543/bindtester"},
		{"postgres://u@host/db?password=secret", "postgres://u@host:5432/db"},
		{"postgres://u:secret@host:notaport/db", "postgres://(unparsable URL)"},
		{"/var/lib/bindtester/bindtester.db", "/var/lib/bindtester/bindtester.db"},
	} {
		got := Describe(tc.dsn)
		if got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if strings.Contains(got, "secret") {
			t.Errorf("Describe(%q) shows the password: %q", tc.dsn, got)
		}
	}
}

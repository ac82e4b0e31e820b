package store

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

var (
	testKey  = bytes.Repeat([]byte{7}, KeySize)
	otherKey = bytes.Repeat([]byte{9}, KeySize)
	// t0 is deliberately not in UTC: the store must hand back UTC.
	t0 = time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
)

// openTest opens a store at path, closed when the test ends.
func openTest(t testing.TB, path string, key []byte) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, key)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openTest(t, filepath.Join(t.TempDir(), "bindtester.db"), testKey)
}

func TestOpenSetsPragmasOnEveryConnection(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	// The pool may replace its connection; the DSN must configure the new one
	// too. A TEMP table lives only as long as its connection: its absence
	// proves the checks below run on a fresh one.
	if _, err := s.db.ExecContext(ctx, "CREATE TEMP TABLE marker (x)"); err != nil {
		t.Fatal(err)
	}
	s.db.SetConnMaxLifetime(time.Nanosecond)
	time.Sleep(time.Millisecond)
	if _, err := s.db.ExecContext(ctx, "SELECT * FROM temp.marker"); err == nil {
		t.Fatal("the pool kept its first connection")
	}
	s.db.SetConnMaxLifetime(0)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"temp_store", "2"}, // MEMORY
		{"user_version", strconv.Itoa(len(sqliteMigrations))},
		{"application_id", "1651076708"},
	} {
		var got string
		if err := s.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	for range 3 {
		s, err := Open(context.Background(), path, testKey)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		var version, tables int
		s.db.QueryRow("PRAGMA user_version").Scan(&version)
		s.db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").Scan(&tables)
		s.Close()
		if version != len(sqliteMigrations) || tables != 10 {
			t.Fatalf("user_version %d, %d tables; want %d, 10", version, tables, len(sqliteMigrations))
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bind?tester#1.db")
	s := openTest(t, path, testKey)
	if err := s.Record(context.Background(), bot.Event{At: t0, Kind: bot.EventBound}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at %s: %v", path, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // the db, -wal and -shm
		t.Errorf("files in %s: %v, want the database, -wal and -shm only", dir, entries)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("this is not a database\n"), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE invoices (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	newer := filepath.Join(dir, "newer.db")
	s := openTest(t, newer, testKey)
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	aFile := filepath.Join(dir, "file")
	os.WriteFile(aFile, nil, 0o600)

	tests := []struct {
		name, path string
		key        []byte
		want       []string // each must occur in the error
	}{
		{"garbage file", garbage, testKey, []string{garbage, "not a SQLite database or is corrupt", "restore a backup"}},
		{"another program's database", foreign, testKey, []string{foreign, "not a bindtester store"}},
		{"newer schema", newer, testKey, []string{newer, "schema version 99 is newer"}},
		{"missing directory", filepath.Join(dir, "nope", "x.db"), testKey, []string{filepath.Join(dir, "nope"), "does not exist", "create it"}},
		{"directory is a file", filepath.Join(aFile, "x.db"), testKey, []string{aFile, "not a directory"}},
		{"path is a directory", dir, testKey, []string{dir, "is a directory"}},
		{"short key", filepath.Join(dir, "k.db"), testKey[:16], []string{"16 bytes, want 32"}},
		{"no path", "", testKey, []string{"no database path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.path, tc.key)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpenUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root writes to any ordinary directory; /proc refuses even root.
		_, err := Open(context.Background(), "/proc/bindtester-test.db", testKey)
		if err == nil || !strings.Contains(err.Error(), "/proc") {
			t.Fatalf("Open under /proc: %v, want an error naming the path", err)
		}
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := Open(context.Background(), filepath.Join(dir, "x.db"), testKey)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open in read-only dir: %v, want an error naming %s as not writable", err, dir)
	}
}

func TestOpenFindsCorruption(t *testing.T) {
	tests := []struct {
		name   string
		damage func(f *os.File, size int64) error
		want   string
	}{
		{
			// The header stays valid, the btrees after the schema do not:
			// SQLite itself reports SQLITE_CORRUPT.
			name: "pages overwritten",
			damage: func(f *os.File, size int64) error {
				_, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, int(size)-3*4096), 3*4096)
				return err
			},
			want: "not a SQLite database or is corrupt",
		},
		{
			// Two cell pointers of the last page point nowhere: only
			// PRAGMA quick_check notices.
			name: "cell pointers broken",
			damage: func(f *os.File, size int64) error {
				_, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, size-4096+8)
				return err
			},
			want: "is corrupt (quick_check: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bindtester.db")
			s := openTest(t, path, testKey)
			ctx := context.Background()
			for i := range 300 {
				e := bot.Event{At: t0, Kind: bot.EventBound, Actor: strings.Repeat("a", i%7), Detail: strings.Repeat("x", 200), GrantID: int64(i)}
				if err := s.Record(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			err = tc.damage(f, fi.Size())
			f.Close()
			if err != nil {
				t.Fatal(err)
			}

			_, err = Open(ctx, path, testKey)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open of a damaged store: %v, want an error naming it and saying %q", err, tc.want)
			}
		})
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	ctx := context.Background()
	s := openTest(t, path, testKey)
	g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", Requester: "U1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, "tester_one")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApproval(ctx, bot.Approval{AppID: "wxapp", Requester: "U1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, "tester_two")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, bot.Event{At: t0, Kind: bot.EventBound, GrantID: g.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path, testKey)
	if got, err := s.FindGrant(ctx, "wxapp", "tester_one"); err != nil || got != g {
		t.Errorf("after restart FindGrant = %+v, %v; want %+v", got, err, g)
	}
	if id, err := s.GrantWechatID(ctx, g.ID); err != nil || id != "tester_one" {
		t.Errorf("after restart GrantWechatID = %q, %v", id, err)
	}
	if id, err := s.ApprovalWechatID(ctx, a.ID); err != nil || id != "tester_two" {
		t.Errorf("after restart ApprovalWechatID = %q, %v", id, err)
	}
	if evs, err := s.Events(ctx, bot.AuditFilter{}); err != nil || len(evs) != 1 || evs[0].GrantID != g.ID {
		t.Errorf("after restart Events = %+v, %v", evs, err)
	}
}

func TestNoPlainWechatIDInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindtester.db")
	ctx := context.Background()
	s := openTest(t, path, testKey)
	const secret = "very_secret_wechat_7"
	g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour), UserStr: "us"}, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApproval(ctx, bot.Approval{AppID: "wxapp", ExpiresAt: t0}, secret); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, bot.Event{At: t0, Kind: bot.EventBound, WechatMasked: g.WechatMasked}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*") // the database, -wal and -shm
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	var total int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(raw)
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s holds the WeChat ID in plain text", filepath.Base(f))
		}
	}
	if total == 0 {
		t.Fatal("database files are empty")
	}
	if got, err := s.GrantWechatID(ctx, g.ID); err != nil || got != secret {
		t.Fatalf("GrantWechatID = %q, %v", got, err)
	}
}

func TestTimesRoundTrip(t *testing.T) {
	for _, tc := range []time.Time{{}, t0, time.Date(2200, 1, 1, 0, 0, 0, 1, time.UTC)} {
		got := fromUnixNano(unixNano(tc))
		if !got.Equal(tc) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("round trip of %v = %v", tc, got)
		}
	}
}

func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("this is not a database\n"), 400), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE invoices (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	v1 := filepath.Join(dir, "v1.db")
	makeV1Store(t, v1, testKey, "tester_one")
	current := filepath.Join(dir, "current.db")
	openTest(t, current, testKey).Close()

	tests := []struct {
		name, path string
		want       string // "" for no error
	}{
		{"garbage file", garbage, "not a SQLite database or is corrupt"},
		{"another program's database", foreign, "not a bindtester store"},
		{"version 1 store", v1, ""},
		{"current store", current, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.path)
			err := CheckFile(context.Background(), tc.path)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckFile = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path)):
				t.Errorf("CheckFile = %v, want an error naming the file and saying %q", err, tc.want)
			}
			if after, _ := os.ReadFile(tc.path); !bytes.Equal(before, after) {
				t.Error("CheckFile changed the file")
			}
		})
	}
	if keyCheckOf(t, v1) != "" {
		t.Error("CheckFile wrote a key check")
	}
}

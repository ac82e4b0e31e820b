// Package store keeps the bot's memory — the audit log, the time-bound grants
// and the pending approvals of package bot, and the authorizer_refresh_tokens
// WeChat rotates for a third-party platform — in one embedded SQLite file
// (modernc.org/sqlite: pure Go, so the binary stays static).
//
// It lives apart from bot because it is the one place that knows SQL, file
// layout and encryption at rest: WeChat IDs and tokens are sealed with
// AES-256-GCM, WeChat IDs found by an HMAC-SHA256 keyed hash, so the database
// file never holds one in plain text. Losing the key loses the ability to
// read them back; the store recognizes its key and refuses any other.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is a bot.Store on one SQLite database file. It is safe for
// concurrent use.
type SQLite struct {
	db   *sql.DB
	path string
	seal *sealer
}

var _ bot.Store = (*SQLite)(nil)

// Open opens (creating it if missing) the store at path, checks it, brings its
// schema up to date and returns it. key is the 32-byte store key that seals
// and finds WeChat IDs (see LoadOrCreateKey and ParseKey). The store
// remembers a keyed hash of its key: opening it with another key fails with
// an error wrapping ErrWrongKey, since its WeChat IDs and tokens could then
// be neither found nor unsealed.
//
// Every connection runs in WAL mode with foreign keys on, a 5 s busy timeout
// and immediate transactions. The pool holds a single connection: the bot
// writes a few rows a minute, and one connection serializes this process's
// reads and writes so no statement ever meets SQLITE_BUSY from its own
// process; the busy timeout and immediate transactions cover other processes
// (the admin subcommands) on the same file.
func Open(ctx context.Context, path string, key []byte) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open store: no database path given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if err := checkWritable(abs); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &SQLite{db: db, path: abs, seal: seal}
	// Processes opening a brand-new store at the same moment can meet SQLITE_BUSY
	// where SQLite does not wait (switching to WAL, first schema): try again.
	for attempt := 1; ; attempt++ {
		err := s.prepare(ctx)
		if err == nil {
			return s, nil
		}
		if !isBusy(err) || attempt == 5 || ctx.Err() != nil {
			db.Close()
			return nil, err
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}

// prepare checks the file, the key and the schema, migrating what is missing.
func (s *SQLite) prepare(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.verifyKey(ctx); err != nil { // before migrating: a refused open leaves the file as it was
		return err
	}
	if err := migrate(ctx, s.db); err != nil {
		return openError(s.path, err)
	}
	return s.checkKey(ctx)
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// Ping checks that the database answers (for health checks).
func (s *SQLite) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// Close closes the database; SQLite checkpoints the WAL into the main file.
func (s *SQLite) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// CheckFile checks, without writing to it, that the existing file at path is
// a healthy SQLite database and a bindtester store (or a database with no
// tables yet); its errors are Open's. It lets a caller tell a damaged or
// foreign file from a store before it has the key Open needs.
func CheckFile(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", fileURI(abs, q))
	if err != nil {
		return fmt.Errorf("open store %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := quickCheck(ctx, db, abs); err != nil {
		return err
	}
	if _, err := schemaVersion(ctx, db); err != nil {
		return openError(abs, err)
	}
	return nil
}

// dsn is the modernc.org/sqlite data source name for the file at abs. The
// driver runs the underscore parameters on every new pooled connection.
func dsn(abs string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Set("_txlock", "immediate")
	return fileURI(abs, q)
}

// fileURI is the file: URI of abs with query q; the URI form escapes any '?'
// or '#' in the path.
func fileURI(abs string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") { // Windows: C:/x → /C:/x
		u.Path = "/" + u.Path
	}
	return u.String()
}

// checkWritable reports, naming the path, a missing or read-only directory or
// file: SQLite needs to write the database and create path-wal and path-shm
// beside it, and its own errors ("unable to open database file") do not say which.
func checkWritable(abs string) error {
	dir := filepath.Dir(abs)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("open store %s: directory %s does not exist; create it (writable by this user) or choose another store path", abs, dir)
	case err != nil:
		return fmt.Errorf("open store %s: directory %s: %w", abs, dir, err)
	case !fi.IsDir():
		return fmt.Errorf("open store %s: %s is not a directory; choose another store path", abs, dir)
	}
	probe, err := os.CreateTemp(dir, ".bindtester-write-check-*")
	if err != nil {
		return fmt.Errorf("open store %s: directory %s is not writable (SQLite creates the database and its -wal and -shm files there); fix its permissions or choose another store path: %w", abs, dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	fi, err = os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("open store %s: %w", abs, err)
	case fi.IsDir():
		return fmt.Errorf("open store %s: it is a directory, not a database file; choose another store path", abs)
	}
	f, err := os.OpenFile(abs, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open store %s: the database file is not writable; fix its permissions: %w", abs, err)
	}
	return f.Close()
}

// check connects, making sure the file is a healthy SQLite database in WAL mode.
func (s *SQLite) check(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return openError(s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open store %s: journal mode is %q, not WAL; put the database on a local file system", s.path, mode)
	}
	return quickCheck(ctx, s.db, s.path)
}

// quickCheck runs PRAGMA quick_check on the database at path.
func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return openError(path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return openError(path, err)
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, strings.ReplaceAll(line, "\n", "; "))
		}
	}
	if err := rows.Err(); err != nil {
		return openError(path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store %s is corrupt (quick_check: %s); move it aside and restore a backup, or start with an empty store", path, strings.Join(problems, "; "))
	}
	return nil
}

// openError explains the SQLite errors that mean the file itself is wrong.
func openError(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("store %s is not a SQLite database or is corrupt; move it aside and restore a backup, or start with an empty store: %w", path, err)
		case sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("cannot open store %s; check that its directory exists and is writable: %w", path, err)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
			return fmt.Errorf("store %s is read-only; fix the permissions of the file and its directory: %w", path, err)
		}
	}
	return fmt.Errorf("open store %s: %w", path, err)
}

// Times are stored as UTC unix nanoseconds; 0 is the zero time.Time.

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// rowErr wraps err for what, turning sql.ErrNoRows into bot.ErrNotFound.
func rowErr(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		err = bot.ErrNotFound
	}
	return fmt.Errorf("%s: %w", what, err)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs query and scans every row with scan; what names the query in errors.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var all []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		all = append(all, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return all, nil
}

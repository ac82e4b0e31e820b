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

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteConns is the size of a SQLite store's pool (see openSQLite).
const sqliteConns = 4

// openSQLite opens (creating it if missing) the SQLite store at path.
//
// Every connection runs in WAL mode with foreign keys on, a 5 s busy
// timeout, temporary files in memory (see dsn) and immediate transactions.
// Once the store is checked and migrated, all of this process's writes go
// through one committer, which makes concurrent ones share a commit
// (groupcommit.go): its transaction is the only writer, so no statement
// meets SQLITE_BUSY from its own process. The pool holds sqliteConns
// connections, one for the committer's transaction and the others for the
// reads meanwhile (in WAL mode a reader never waits for the writer, and sees
// every commit made before it began); one more query waits for one of them.
// Each connection keeps the store's queries prepared (stmtcache.go). The
// busy timeout and immediate transactions cover other processes (the admin
// subcommands) on the same file.
func openSQLite(ctx context.Context, path string, key []byte) (*Store, error) {
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

	sqlDB, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	sqlDB.SetMaxOpenConns(sqliteConns)
	sqlDB.SetMaxIdleConns(sqliteConns)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)

	s := &Store{db: db{DB: sqlDB, stmts: newStmtCache(sqlDB)}, name: abs, seal: seal, eng: &sqliteEngine{}}
	// Processes opening a brand-new store at the same moment can meet SQLITE_BUSY
	// where SQLite does not wait (switching to WAL, first schema): try again.
	for attempt := 1; ; attempt++ {
		err := s.check(ctx)
		if err == nil {
			err = s.prepare(ctx)
		}
		if err == nil {
			s.gc = newCommitter(s.db)
			return s, nil
		}
		if !isBusy(err) || attempt == 5 || ctx.Err() != nil {
			s.db.stmts.close()
			sqlDB.Close()
			return nil, err
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
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
	sqlDB, err := sql.Open("sqlite", fileURI(abs, q))
	if err != nil {
		return fmt.Errorf("open store %s: %w", abs, err)
	}
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(1)
	db := db{DB: sqlDB}
	if err := quickCheck(ctx, db, abs); err != nil {
		return err
	}
	if _, err := (&sqliteEngine{}).version(ctx, db); err != nil {
		return openError(abs, err)
	}
	return nil
}

// dsn is the modernc.org/sqlite data source name for the file at abs. The
// driver runs the underscore parameters on every new pooled connection.
//
// temp_store(MEMORY) keeps the sub-journal of the committer's savepoints
// (groupcommit.go) in memory. Otherwise, once a piece has journaled more
// than 64 KiB of pages (SQLITE_STMTJRNL_SPILL: a bind's FinishJob does),
// SQLite moves the sub-journal to a new temporary file, and every page
// journaled for the rest of the batch is a write system call: a sixth of
// BenchmarkConcurrentBinds' time. The sub-journal only rolls a piece back;
// commits are made durable by the WAL, so nothing durable lives there. The
// store's sorts, which would use temporary files too, are small.
func dsn(abs string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "temp_store(MEMORY)")
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
func (s *Store) check(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return openError(s.name, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open store %s: journal mode is %q, not WAL; put the database on a local file system", s.name, mode)
	}
	return quickCheck(ctx, s.db, s.name)
}

// quickCheck runs PRAGMA quick_check on the database at path.
func quickCheck(ctx context.Context, db querier, path string) error {
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

// sqliteEngine is SQLite's part of a Store: one file, one process serving
// (see LockSoleReplica), immediate transactions.
type sqliteEngine struct {
	lock *os.File // see LockSoleReplica
}

func (*sqliteEngine) explain(name string, err error) error { return openError(name, err) }

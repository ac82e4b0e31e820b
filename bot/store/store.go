// Package store keeps the bot's memory — the audit log, the time-bound grants,
// the pending approvals and the durable WeChat jobs of package bot, the
// envelopes already handled, and the WeChat tokens every replica shares — in
// a database: an embedded SQLite file (modernc.org/sqlite: pure Go, so the
// binary stays static) for one process, or PostgreSQL (github.com/jackc/pgx/v5)
// for several replicas.
//
// It lives apart from bot because it is the one place that knows SQL, engines,
// file layout and encryption at rest: WeChat IDs and tokens are sealed with
// AES-256-GCM, WeChat IDs found by an HMAC-SHA256 keyed hash, so the database
// never holds one in plain text. Losing the key loses the ability to read
// them back; the store recognizes its key and refuses any other.
//
// Both engines run the same queries (written with ? placeholders, numbered
// for PostgreSQL) and the same Go rules; what differs — opening, migrations,
// locks — is in sqlite.go and postgres.go, and, on SQLite, concurrent
// writes sharing commits in groupcommit.go and statements prepared once in
// stmtcache.go.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// Store is a bot.Store on SQLite or PostgreSQL. It is safe for concurrent use,
// and on PostgreSQL by several processes at once.
type Store struct {
	db   db
	name string // what errors call the database: the file path, or host/dbname
	seal *sealer
	eng  engine
	gc   *committer // SQLite: every write goes through it (see groupcommit.go); nil on PostgreSQL

	tokenLocks keyLocks      // SQLite: the token locks of every TokenStore (see Tokens)
	tokenSlots chan struct{} // PostgreSQL: outer token locks held at once (see Tokens)
}

// engine is what differs between SQLite and PostgreSQL.
type engine interface {
	// migrate brings the schema up to date (safe against concurrent migrators).
	migrate(ctx context.Context, d db) error
	// version is the schema version, or an error if the database is not a bindtester store this release can use.
	version(ctx context.Context, q querier) (int, error)
	// explain turns engine errors about the database itself into advice.
	explain(name string, err error) error
}

var _ bot.Store = (*Store)(nil)

// IsPostgres reports whether dsn names a PostgreSQL database rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the store at dsn — a postgres:// URL, or else the path of a
// SQLite file, created if missing — checks it, brings its schema up to date
// and returns it. key is the 32-byte store key that seals and finds WeChat IDs
// (see LoadOrCreateKey and ParseKey). The store remembers a keyed hash of its
// key: opening it with another key fails with an error wrapping ErrWrongKey,
// since its WeChat IDs and tokens could then be neither found nor unsealed.
func Open(ctx context.Context, dsn string, key []byte) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("open store: no database path given")
	}
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn, key)
	}
	return openSQLite(ctx, dsn, key)
}

// prepare checks the key and the schema, migrating what is missing.
func (s *Store) prepare(ctx context.Context) error {
	if err := s.verifyKey(ctx); err != nil { // before migrating: a refused open leaves the database as it was
		return err
	}
	if err := s.eng.migrate(ctx, s.db); err != nil {
		return s.eng.explain(s.name, err)
	}
	return s.checkKey(ctx)
}

// Ping checks that the database answers (for health checks).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store %s: %w", s.name, err)
	}
	return nil
}

// Close closes the database (SQLite checkpoints its WAL into the main file).
// On SQLite it first waits for the writes already handed in to be committed;
// writes after Close fail.
func (s *Store) Close() error {
	if s.gc != nil {
		s.gc.close()
	}
	if s.db.stmts != nil {
		s.db.stmts.close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.name, err)
	}
	if l, ok := s.eng.(interface{ unlock() }); ok {
		l.unlock()
	}
	return nil
}

// forUpdate is appended to a SELECT whose rows the transaction will update:
// PostgreSQL locks them; SQLite's immediate transactions already hold the
// database's write lock.
func (s *Store) forUpdate() string {
	if s.db.pg {
		return " FOR UPDATE"
	}
	return ""
}

// Name is what the store's messages call the database: a file path, or host/dbname.
func (s *Store) Name() string { return s.name }

// db is a database handle whose queries take ? placeholders on every engine.
// On SQLite it runs them as statements prepared once (see stmtcache.go).
type db struct {
	*sql.DB
	pg    bool
	stmts *stmtCache // SQLite; nil on PostgreSQL, or for a handle used once (CheckFile): queries run unprepared
}

func (d db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	notInPiece(ctx)
	return d.exec(ctx, q, args...)
}

func (d db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	notInPiece(ctx)
	return d.query(ctx, q, args...)
}

func (d db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	notInPiece(ctx)
	return d.queryRow(ctx, q, args...)
}

// exec, query and queryRow are the queries of db, without its guard against pieces.

func (d db) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := d.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, rebind(d.pg, q), args...)
}

func (d db) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := d.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, rebind(d.pg, q), args...)
}

func (d db) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if s := d.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, rebind(d.pg, q), args...)
}

// stmt is q's prepared statement, or nil to run q unprepared.
func (d db) stmt(ctx context.Context, q string) *sql.Stmt {
	if d.stmts == nil {
		return nil
	}
	return d.stmts.get(ctx, q)
}

// notInPiece panics if ctx is a SQLite write's (see groupcommit.go): it
// must use its transaction, which holds one of the pool's connections; on
// the pool it would miss its batch's writes, or wait for itself.
func notInPiece(ctx context.Context) {
	if ctx.Value(committerCtx{}) != nil {
		panic("store: a write queried the database handle instead of its transaction")
	}
}

func (d db) begin(ctx context.Context) (tx, error) {
	t, err := d.DB.BeginTx(ctx, nil)
	return d.tx(t), err
}

// tx wraps t, a transaction of d's.
func (d db) tx(t *sql.Tx) tx {
	w := tx{Tx: t, pg: d.pg}
	if d.stmts != nil {
		w.stmts = &txStmts{cache: d.stmts}
	}
	return w
}

// autocommit is d for the committer's lone piece of statements (see
// commitAlone), which run on the pool in autocommit: db's queries without its
// guard against pieces.
type autocommit struct{ d db }

func (a autocommit) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return a.d.exec(ctx, q, args...)
}

func (a autocommit) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return a.d.query(ctx, q, args...)
}

func (a autocommit) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return a.d.queryRow(ctx, q, args...)
}

// tx is a transaction whose queries take ? placeholders on every engine,
// and on SQLite run as the store's prepared statements.
type tx struct {
	*sql.Tx
	pg    bool
	stmts *txStmts // SQLite; nil on PostgreSQL: queries run unprepared
}

func (t tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, rebind(t.pg, q), args...)
}

func (t tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := t.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

// stmt is q's prepared statement in t, or nil to run q unprepared.
func (t tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	return t.stmts.get(ctx, t.Tx, q)
}

// querier is a db or a tx.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// rebind numbers ? placeholders $1, $2, … for PostgreSQL. The store's
// queries hold no ? anywhere else.
func rebind(pg bool, q string) string {
	if !pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// inTx runs fn in a transaction, committing if it returns nil. Writes go
// through write (groupcommit.go), which is inTx on PostgreSQL.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx) error) error {
	t, err := s.db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer t.Rollback()
	if err := fn(t); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
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
func queryAll[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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

// execOne runs an UPDATE or DELETE that must change exactly one row: none is bot.ErrNotFound.
func execOne(ctx context.Context, q querier, what, query string, args ...any) error {
	n, err := execCount(ctx, q, what, query, args...)
	if err == nil && n == 0 {
		err = fmt.Errorf("%s: %w", what, bot.ErrNotFound)
	}
	return err
}

// execCount runs a statement and says how many rows it changed.
func execCount(ctx context.Context, q querier, what, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

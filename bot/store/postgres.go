package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres opens the store in the PostgreSQL database at dsn, which
// several bindtester processes may share.
func openPostgres(ctx context.Context, dsn string, key []byte) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the URL, password included: say only what is wrong.
		return nil, errors.New("open store: the PostgreSQL URL cannot be parsed; it looks like postgres://user:password@host:5432/dbname?sslmode=disable")
	}
	name := pgName(&cfg.Config)
	seal, err := newSealer(key)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(16)
	sqlDB.SetMaxIdleConns(16)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db{DB: sqlDB, pg: true}, name: name, seal: seal, eng: postgresEngine{}, tokenSlots: make(chan struct{}, tokenLockSlots)}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+5*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, pgOpenError(&cfg.Config, name, err)
	}
	if err := s.prepare(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// Describe names the database at dsn for messages and logs: a SQLite path as
// it is, a PostgreSQL URL without its password.
func Describe(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return pgName(&cfg.Config)
}

// CheckPostgres checks, without writing, that the PostgreSQL database at dsn
// answers and is empty or a bindtester store this release can use; its
// errors are Open's.
func CheckPostgres(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return errors.New("the PostgreSQL URL cannot be parsed; it looks like postgres://user:password@host:5432/dbname?sslmode=disable")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	name := pgName(&cfg.Config)
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	if err := sqlDB.PingContext(ctx); err != nil {
		return pgOpenError(&cfg.Config, name, err)
	}
	if _, err := (postgresEngine{}).version(ctx, db{DB: sqlDB, pg: true}); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return nil
}

// pgName is how messages name the database: user@host:port/dbname, never the password.
func pgName(c *pgconn.Config) string {
	return fmt.Sprintf("postgres://%s@%s/%s", c.User, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.Database)
}

// pgOpenError says what is wrong with a database the store could not reach,
// in words an operator can act on, naming neither password nor full URL.
func pgOpenError(c *pgconn.Config, name string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01":
			return fmt.Errorf("open store %s: PostgreSQL refused the password of user %q; fix the password in BINDTESTER_DB", name, c.User)
		case "28000":
			return fmt.Errorf("open store %s: PostgreSQL does not let user %q in (%s); check the user name in BINDTESTER_DB and the server's pg_hba.conf", name, c.User, pe.Message)
		case "3D000":
			return fmt.Errorf("open store %s: database %q does not exist; create it (createdb %s, owned by %s) or fix the database name in BINDTESTER_DB", name, c.Database, c.Database, c.User)
		}
		return fmt.Errorf("open store %s: PostgreSQL said: %s (SQLSTATE %s)", name, pe.Message, pe.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connect") {
		return fmt.Errorf("open store %s: cannot reach the PostgreSQL server at %s; check that it runs and that host and port in BINDTESTER_DB are right (%s)",
			name, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), causeText(err))
	}
	return fmt.Errorf("open store %s: %s", name, causeText(err))
}

// causeText is the innermost error's text: pgx's outer connect errors repeat
// the connection settings.
func causeText(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// postgresEngine is PostgreSQL's part of a Store: schema versions in table
// bindtester_schema, migrations and token refreshes serialized by advisory locks.
type postgresEngine struct{}

// migrationLock is the advisory lock id that serializes migrations ("bind" + 1).
const migrationLock = 0x62696e6401

func (postgresEngine) explain(name string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("store %s: %s (SQLSTATE %s): %w", name, pe.Message, pe.Code, err)
	}
	return fmt.Errorf("store %s: %w", name, err)
}

func (postgresEngine) version(ctx context.Context, q querier) (int, error) {
	var marked bool
	var tables int
	err := q.QueryRowContext(ctx, `SELECT to_regclass('bindtester_schema') IS NOT NULL,
		(SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema())`).Scan(&marked, &tables)
	if err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	if !marked {
		if tables > 0 {
			return 0, errors.New("not a bindtester store (the database holds another program's tables); give bindtester a database of its own")
		}
		return 0, nil
	}
	var version int
	if err := q.QueryRowContext(ctx, `SELECT version FROM bindtester_schema`).Scan(&version); err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	if version > len(postgresMigrations) {
		return 0, fmt.Errorf("schema version %d is newer than this bindtester knows (%d); run a newer release or restore a backup", version, len(postgresMigrations))
	}
	return version, nil
}

// migrate applies the migrations the database lacks, in one transaction
// holding the migration lock, so replicas starting together migrate once.
func (e postgresEngine) migrate(ctx context.Context, d db) error {
	t, err := d.begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer t.Rollback()
	if _, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	version, err := e.version(ctx, t)
	if err != nil {
		return err
	}
	if version == len(postgresMigrations) {
		return nil
	}
	if version == 0 {
		if _, err := t.ExecContext(ctx, `CREATE TABLE bindtester_schema (version INTEGER NOT NULL);
			INSERT INTO bindtester_schema VALUES (0)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	for v := version; v < len(postgresMigrations); v++ {
		if _, err := t.ExecContext(ctx, postgresMigrations[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := t.ExecContext(ctx, `UPDATE bindtester_schema SET version = ?`, len(postgresMigrations)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// postgresSQL is schema text for PostgreSQL.
func postgresSQL(schema string) string {
	return strings.NewReplacer("$ID", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "$BLOB", "BYTEA",
		"$INT", "BIGINT", "$STRICT", "").Replace(schema)
}

// postgresMigrations are PostgreSQL's schema changes; migration i takes
// bindtester_schema.version from i to i+1. The first is SQLite's migrations 1
// to 4 in one. Append new ones; never edit an applied one.
var postgresMigrations = []string{
	postgresSQL(`
CREATE TABLE events (
	id            $ID,
	at            $INT NOT NULL,
	kind          TEXT NOT NULL,
	actor         TEXT NOT NULL,
	requester     TEXT NOT NULL,
	channel       TEXT NOT NULL,
	thread_ts     TEXT NOT NULL,
	app_id        TEXT NOT NULL,
	wechat_masked TEXT NOT NULL,
	userstr       TEXT NOT NULL,
	errcode       $INT NOT NULL,
	detail        TEXT NOT NULL,
	grant_id      $INT NOT NULL,
	approval_id   $INT NOT NULL
);
CREATE INDEX events_at        ON events (at DESC, id DESC);
CREATE INDEX events_app       ON events (app_id, at DESC);
CREATE INDEX events_actor     ON events (actor, at DESC);
CREATE INDEX events_requester ON events (requester, at DESC);

CREATE TABLE grants (
	id               $ID,
	app_id           TEXT  NOT NULL,
	wechat_hash      TEXT  NOT NULL,
	wechat_sealed    $BLOB NOT NULL,
	wechat_masked    TEXT  NOT NULL,
	userstr          TEXT  NOT NULL,
	requester        TEXT  NOT NULL,
	thread_channel   TEXT  NOT NULL,
	thread_parent_ts TEXT  NOT NULL,
	thread_ts        TEXT  NOT NULL,
	created_at       $INT  NOT NULL,
	expires_at       $INT  NOT NULL,
	state            TEXT  NOT NULL CHECK (state IN ('active', 'ended')),
	ended_at         $INT  NOT NULL DEFAULT 0,
	ended_by         TEXT  NOT NULL DEFAULT '',
	warned_at        $INT  NOT NULL DEFAULT 0,
	attempts         $INT  NOT NULL DEFAULT 0,
	next_attempt     $INT  NOT NULL DEFAULT 0,
	last_error       TEXT  NOT NULL DEFAULT '',
	unbind_job       $INT  NOT NULL DEFAULT 0,
	warn_claim_until $INT  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX grants_active ON grants (app_id, wechat_hash) WHERE state = 'active';
CREATE INDEX grants_expiry ON grants (state, expires_at);

CREATE TABLE approvals (
	id               $ID,
	app_id           TEXT  NOT NULL,
	wechat_hash      TEXT  NOT NULL,
	wechat_sealed    $BLOB NOT NULL,
	wechat_masked    TEXT  NOT NULL,
	requester        TEXT  NOT NULL,
	thread_channel   TEXT  NOT NULL,
	thread_parent_ts TEXT  NOT NULL,
	thread_ts        TEXT  NOT NULL,
	duration         $INT  NOT NULL,
	state            TEXT  NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
	decided_by       TEXT  NOT NULL DEFAULT '',
	decided_at       $INT  NOT NULL DEFAULT 0,
	created_at       $INT  NOT NULL,
	expires_at       $INT  NOT NULL,
	prompts          TEXT  NOT NULL DEFAULT '[]',
	job_id           $INT  NOT NULL DEFAULT 0
);
CREATE INDEX approvals_expiry ON approvals (state, expires_at);
CREATE INDEX approvals_wechat ON approvals (app_id, wechat_hash, state);

CREATE TABLE meta (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE refresh_tokens (
	app_id       TEXT  NOT NULL PRIMARY KEY,
	seed_hash    TEXT  NOT NULL,
	token_sealed $BLOB NOT NULL,
	updated_at   $INT  NOT NULL
);
` + jobsSchema),
	postgresSQL(platformSchema),
	postgresSQL(reasonSchema),
	postgresSQL(votesSchema),
	postgresSQL(homeSchema),
}

package store

import (
	"context"
	"fmt"
	"strings"
)

// applicationID marks the file as a bindtester store ("bind"), so Open refuses
// another program's SQLite database instead of adding tables to it.
const applicationID = 0x62696e64

// migrations are the schema changes, in order: migration i (from 0) takes the
// database from PRAGMA user_version i to i+1. Append new ones; never edit an
// applied one.
//
// Times are unix nanoseconds in UTC, 0 for none. WeChat IDs are kept only as
// wechat_sealed (AES-256-GCM) and found by wechat_hash (HMAC-SHA256, hex).
var sqliteMigrations = []string{
	// 1: audit log, grants, approvals.
	`
CREATE TABLE events (
	id            INTEGER PRIMARY KEY,
	at            INTEGER NOT NULL,
	kind          TEXT    NOT NULL,
	actor         TEXT    NOT NULL,
	requester     TEXT    NOT NULL,
	channel       TEXT    NOT NULL,
	thread_ts     TEXT    NOT NULL,
	app_id        TEXT    NOT NULL,
	wechat_masked TEXT    NOT NULL,
	userstr       TEXT    NOT NULL,
	errcode       INTEGER NOT NULL,
	detail        TEXT    NOT NULL,
	grant_id      INTEGER NOT NULL,
	approval_id   INTEGER NOT NULL
) STRICT;
CREATE INDEX events_at        ON events (at DESC, id DESC);
CREATE INDEX events_app       ON events (app_id, at DESC);
CREATE INDEX events_actor     ON events (actor, at DESC);
CREATE INDEX events_requester ON events (requester, at DESC);

CREATE TABLE grants (
	id               INTEGER PRIMARY KEY,
	app_id           TEXT    NOT NULL,
	wechat_hash      TEXT    NOT NULL,
	wechat_sealed    BLOB    NOT NULL,
	wechat_masked    TEXT    NOT NULL,
	userstr          TEXT    NOT NULL,
	requester        TEXT    NOT NULL,
	thread_channel   TEXT    NOT NULL,
	thread_parent_ts TEXT    NOT NULL,
	thread_ts        TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	state            TEXT    NOT NULL CHECK (state IN ('active', 'ended')),
	ended_at         INTEGER NOT NULL DEFAULT 0,
	ended_by         TEXT    NOT NULL DEFAULT '',
	warned_at        INTEGER NOT NULL DEFAULT 0,
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt     INTEGER NOT NULL DEFAULT 0,
	last_error       TEXT    NOT NULL DEFAULT ''
) STRICT;
-- At most one active grant per WeChat account and app; FindGrant and the
-- SaveGrant upsert look it up by (app_id, wechat_hash, state = 'active').
CREATE UNIQUE INDEX grants_active ON grants (app_id, wechat_hash) WHERE state = 'active';
CREATE INDEX grants_expiry ON grants (state, expires_at);

CREATE TABLE approvals (
	id               INTEGER PRIMARY KEY,
	app_id           TEXT    NOT NULL,
	wechat_hash      TEXT    NOT NULL,
	wechat_sealed    BLOB    NOT NULL,
	wechat_masked    TEXT    NOT NULL,
	requester        TEXT    NOT NULL,
	thread_channel   TEXT    NOT NULL,
	thread_parent_ts TEXT    NOT NULL,
	thread_ts        TEXT    NOT NULL,
	duration         INTEGER NOT NULL,
	state            TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
	decided_by       TEXT    NOT NULL DEFAULT '',
	decided_at       INTEGER NOT NULL DEFAULT 0,
	created_at       INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	prompts          TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(prompts))
) STRICT;
CREATE INDEX approvals_expiry ON approvals (state, expires_at);
CREATE INDEX approvals_wechat ON approvals (app_id, wechat_hash, state);
`,
	// 2: facts about the store itself. key_check is a keyed hash (see
	// sealer.keyCheck) that tells whether the store key given to Open is the
	// one this store's values were sealed with; Open writes it when missing.
	`
CREATE TABLE meta (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
`,
	// 3: a third-party platform's authorizer_refresh_tokens, which WeChat may
	// rotate on any use. token_sealed is the current token (AES-256-GCM);
	// seed_hash the keyed hash of the token in the settings it grew from, so
	// a new token put in the settings is noticed (see RefreshTokens).
	`
CREATE TABLE refresh_tokens (
	app_id       TEXT    NOT NULL PRIMARY KEY,
	seed_hash    TEXT    NOT NULL,
	token_sealed BLOB    NOT NULL,
	updated_at   INTEGER NOT NULL
) STRICT;
`,
	// 4: durable WeChat jobs, envelopes seen, shared tokens. See jobsSchema.
	strictSQL(jobsSchema) + `
ALTER TABLE grants ADD COLUMN unbind_job INTEGER NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN warn_claim_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN job_id INTEGER NOT NULL DEFAULT 0;
`,
	// 5: the Mini Programs a third-party platform's discovery found. See platformSchema.
	strictSQL(platformSchema),
	// 6: why access was asked for. See reasonSchema.
	strictSQL(reasonSchema),
	// 7: approvals given so far, for apps that need more than one. See votesSchema.
	strictSQL(votesSchema),
	// 8: who looks at their App Home. See homeSchema.
	strictSQL(homeSchema),
}

// homeSchema is SQLite's migration 8 and PostgreSQL's 5: when each person
// last opened their App Home, so that whichever replica makes a change
// republishes the homes of those who look at them.
const homeSchema = `
CREATE TABLE home_viewers (
	user_id   TEXT NOT NULL PRIMARY KEY,
	opened_at $INT NOT NULL
)$STRICT;
`

// votesSchema is SQLite's migration 7 and PostgreSQL's 4: the approvals a
// pending request has had so far, a JSON list of {"by","at"} (at in unix
// nanoseconds), for apps that need several distinct approvers.
const votesSchema = `
ALTER TABLE approvals ADD COLUMN votes TEXT NOT NULL DEFAULT '[]';
`

// reasonSchema is SQLite's migration 6 and PostgreSQL's 3: the reason a
// requester gave, kept with the request, the job and the grant (raw text,
// escaped where shown; ” for none).
const reasonSchema = `
ALTER TABLE grants ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN reason TEXT NOT NULL DEFAULT '';
`

// platformSchema is SQLite's migration 5 and PostgreSQL's 2: one row per app
// that authorized the platform, as discovery or a notice last saw it.
// permission_sets is a comma-separated list of ids; revoked is 0 or 1. The
// discovery row in meta (name 'discovery_next') is claimed by compare-and-set.
const platformSchema = `
CREATE TABLE platform_apps (
	app_id          TEXT NOT NULL PRIMARY KEY,
	nickname        TEXT NOT NULL,
	permission_sets TEXT NOT NULL,
	mini_program    $INT NOT NULL,
	revoked         $INT NOT NULL,
	seen_at         $INT NOT NULL
)$STRICT;
`

// jobsSchema is migration 4, written once for both engines (see strictSQL and
// postgresSQL). A job is one WeChat change (bind or unbind) the bot is making:
// its intent is written, with the sealed WeChat ID, before WeChat is called,
// and its outcome after, so a job interrupted by a crash or a lost answer is
// finished later by whichever process claims it (lease_owner, lease_until).
// answered says the requester has been told the outcome. seen holds the
// Slack envelopes already handled, so a redelivery is handled once across
// replicas; tokens the WeChat access tokens every replica shares.
const jobsSchema = `
CREATE TABLE jobs (
	id               $ID,
	kind             TEXT    NOT NULL CHECK (kind IN ('bind', 'unbind')),
	state            TEXT    NOT NULL CHECK (state IN ('open', 'done')),
	app_id           TEXT    NOT NULL,
	wechat_hash      TEXT    NOT NULL,
	wechat_sealed    $BLOB   NOT NULL,
	wechat_masked    TEXT    NOT NULL,
	userstr          TEXT    NOT NULL,
	requester        TEXT    NOT NULL,
	actor            TEXT    NOT NULL,
	channel          TEXT    NOT NULL,
	thread_channel   TEXT    NOT NULL,
	thread_parent_ts TEXT    NOT NULL,
	thread_ts        TEXT    NOT NULL,
	duration         $INT    NOT NULL,
	approval_id      $INT    NOT NULL,
	grant_id         $INT    NOT NULL,
	created_at       $INT    NOT NULL,
	lease_owner      TEXT    NOT NULL,
	lease_until      $INT    NOT NULL,
	next_at          $INT    NOT NULL,
	attempts         $INT    NOT NULL,
	outcome          TEXT    NOT NULL DEFAULT '',
	errcode          $INT    NOT NULL DEFAULT 0,
	detail           TEXT    NOT NULL DEFAULT '',
	answered         $INT    NOT NULL DEFAULT 0,
	finished_at      $INT    NOT NULL DEFAULT 0
)$STRICT;
CREATE INDEX jobs_todo ON jobs (answered, next_at);
CREATE INDEX jobs_intent ON jobs (app_id, wechat_hash, state);

CREATE TABLE seen (
	key TEXT NOT NULL PRIMARY KEY,
	at  $INT NOT NULL
)$STRICT;
CREATE INDEX seen_at ON seen (at);

CREATE TABLE tokens (
	key          TEXT  NOT NULL PRIMARY KEY,
	token_sealed $BLOB NOT NULL,
	token_hash   TEXT  NOT NULL,
	expires_at   $INT  NOT NULL,
	fetched_at   $INT  NOT NULL
)$STRICT;
`

// strictSQL is schema text for SQLite: STRICT tables of INTEGER and BLOB.
func strictSQL(schema string) string {
	return strings.NewReplacer("$ID", "INTEGER PRIMARY KEY", "$BLOB", "BLOB", "$INT", "INTEGER", "$STRICT", " STRICT").Replace(schema)
}

// migrate checks that the file is a bindtester store (or empty) and applies
// the migrations it lacks, each in its own transaction. It is a no-op on an
// up-to-date store, and safe against another process migrating at the same
// time: transactions are immediate, and the version is re-read inside each.
func (e *sqliteEngine) migrate(ctx context.Context, d db) error {
	version, err := e.version(ctx, d)
	if err != nil {
		return err
	}
	for v := version; v < len(sqliteMigrations); v++ {
		if err := applyMigration(ctx, d, v); err != nil {
			return err
		}
	}
	return nil
}

// version checks that the database is a bindtester store (or empty)
// this release can use, and returns its schema version.
func (*sqliteEngine) version(ctx context.Context, db querier) (int, error) {
	// One statement, so one snapshot: read separately, another process's
	// migration could commit in between (tables, but no application_id yet).
	var appID, version, objects int
	err := db.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id()),
		(SELECT user_version FROM pragma_user_version()), (SELECT count(*) FROM sqlite_schema)`).Scan(&appID, &version, &objects)
	if err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	switch {
	case appID != applicationID && (appID != 0 || objects > 0):
		return 0, fmt.Errorf("not a bindtester store (it is another program's SQLite database); choose another store path")
	case version > len(sqliteMigrations):
		return 0, fmt.Errorf("schema version %d is newer than this bindtester knows (%d); run a newer release or restore a backup", version, len(sqliteMigrations))
	}
	return version, nil
}

// applyMigration applies migrations[v] if the store is still at version v.
func applyMigration(ctx context.Context, d db, v int) error {
	tx, err := d.begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %d: %w", v+1, err)
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("migration %d: %w", v+1, err)
	}
	if current != v {
		return nil // another process got here first
	}
	stmts := []string{
		sqliteMigrations[v],
		fmt.Sprintf("PRAGMA application_id = %d", applicationID),
		fmt.Sprintf("PRAGMA user_version = %d", v+1),
	}
	for _, stmt := range stmts {
		// Run once: not kept prepared (tx.Tx, not tx).
		if _, err := tx.Tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", v+1, err)
	}
	return nil
}

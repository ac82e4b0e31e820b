package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
)

// ErrWrongKey says the store key given to Open is not the one the store's
// values were sealed with. Open's error wraps it.
var ErrWrongKey = errors.New("the store key does not match this database")

// wrongKey is Open's error for the store at path opened with another key.
func wrongKey(path string) error {
	return fmt.Errorf("open store %s: %w: restore the key file or BINDTESTER_STORE_KEY used to create it "+
		"(with another key the WeChat IDs and tokens it holds can be neither found nor read); "+
		"to start afresh instead, move the database aside", path, ErrWrongKey)
}

// verifyKey refuses a key that does not fit the store, without writing: it
// compares the key check where there is one (schema 2 and later), and
// otherwise unseals the newest sealed WeChat ID of a schema 1 store.
func (s *Store) verifyKey(ctx context.Context) error {
	version, err := s.eng.version(ctx, s.db)
	switch {
	case err != nil:
		return s.eng.explain(s.name, err)
	case version == 0:
		return nil // a new store
	case version >= 2 || s.db.pg: // PostgreSQL stores have had a key check from the start
		got, err := readKeyCheck(ctx, s.db)
		if err != nil || got == "" {
			return err // checkKey, after migrating, writes a missing check
		}
		return s.compareKeyCheck(got, s.seal.keyCheck())
	}
	var sealed []byte
	err = s.db.QueryRowContext(ctx, `SELECT wechat_sealed FROM (
			SELECT wechat_sealed, created_at, id FROM grants
			UNION ALL SELECT wechat_sealed, created_at, id FROM approvals) AS sealed
		ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return s.eng.explain(s.name, err)
	}
	if _, err := s.seal.unseal(sealed); err != nil {
		return wrongKey(s.name)
	}
	return nil
}

// checkKey makes sure s.seal holds the key this store was made with: the key
// check in the meta table must match it. A store without a check (new, or
// made before there was one) gets one, but only after the key unseals the
// newest WeChat ID the store already holds, if any: an older store opened
// with a new key must fail, not vouch for the wrong key.
func (s *Store) checkKey(ctx context.Context) error {
	want := s.seal.keyCheck()
	got, err := readKeyCheck(ctx, s.db)
	switch {
	case err != nil:
		return s.eng.explain(s.name, err)
	case got != "":
		return s.compareKeyCheck(got, want)
	}

	tx, err := s.db.begin(ctx) // SQLite: immediate, so no other process writes a check meanwhile
	if err != nil {
		return s.eng.explain(s.name, err)
	}
	defer tx.Rollback()
	if got, err := readKeyCheck(ctx, tx); err != nil {
		return s.eng.explain(s.name, err)
	} else if got != "" { // another process wrote it first
		return s.compareKeyCheck(got, want)
	}
	var sealed []byte
	err = tx.QueryRowContext(ctx, `SELECT wechat_sealed FROM (
			SELECT wechat_sealed, created_at, id FROM grants
			UNION ALL SELECT wechat_sealed, created_at, id FROM approvals) AS sealed
		ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows): // nothing sealed yet: any key is this store's key
	case err != nil:
		return s.eng.explain(s.name, err)
	default:
		if _, err := s.seal.unseal(sealed); err != nil {
			return wrongKey(s.name)
		}
	}
	if s.db.pg { // PostgreSQL: concurrent first opens queue here, and the second reads the first's check
		if _, err := tx.ExecContext(ctx, `LOCK TABLE meta IN EXCLUSIVE MODE`); err != nil {
			return s.eng.explain(s.name, err)
		}
		if got, err := readKeyCheck(ctx, tx); err != nil {
			return s.eng.explain(s.name, err)
		} else if got != "" {
			return s.compareKeyCheck(got, want)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('key_check', ?)`, want); err != nil {
		return s.eng.explain(s.name, fmt.Errorf("write the key check: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return s.eng.explain(s.name, fmt.Errorf("write the key check: %w", err))
	}
	return nil
}

func (s *Store) compareKeyCheck(got, want string) error {
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return wrongKey(s.name)
	}
	return nil
}

// readKeyCheck reads the key check, "" when there is none.
func readKeyCheck(ctx context.Context, q querier) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'key_check'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the key check: %w", err)
	}
	return v, nil
}

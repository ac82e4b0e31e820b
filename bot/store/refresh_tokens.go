package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// RefreshTokens keeps a WeChat third-party platform's authorizer_refresh_tokens
// in the store, so one WeChat rotates survives a restart: the token in the
// settings stops working once WeChat has handed out its successor (61023).
// Tokens are credentials: they are sealed like WeChat IDs, never stored in
// plain text.
//
// seeds are the tokens in the settings, by appid. The store keeps, per app,
// the current token and a keyed hash of the seed it grew from. RefreshToken
// answers the stored token while the seed is unchanged; a seed the store has
// not seen (the operator put in a new token, after re-authorizing the
// platform, say) wins and replaces the stored token. Without a stored token
// the seed is the token.
func (s *Store) RefreshTokens(seeds map[string]string) *RefreshTokenStore {
	return &RefreshTokenStore{s: s, seeds: maps.Clone(seeds)}
}

// RefreshTokenStore is the store's wechat.RefreshTokens.
type RefreshTokenStore struct {
	s     *Store
	seeds map[string]string
}

// refreshTokenAD binds a sealed token to its app.
func refreshTokenAD(appid string) string {
	return "bindtester store: authorizer_refresh_token of " + appid
}

// seedHash is the keyed hash of appid's seed, "" for none.
func (r *RefreshTokenStore) seedHash(appid, seed string) string {
	if seed == "" {
		return ""
	}
	return r.s.seal.keyedHash("authorizer_refresh_token seed of "+appid, seed)
}

// RefreshToken returns appid's current authorizer_refresh_token (see RefreshTokens).
func (r *RefreshTokenStore) RefreshToken(ctx context.Context, appid string) (string, error) {
	seed := r.seeds[appid]
	var storedSeed string
	var sealed []byte
	err := r.s.db.QueryRowContext(ctx, `SELECT seed_hash, token_sealed FROM refresh_tokens WHERE app_id = ?`, appid).
		Scan(&storedSeed, &sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if seed == "" {
			return "", wechat.ErrNoCredentials{AppID: appid}
		}
		return seed, nil
	case err != nil:
		return "", fmt.Errorf("store %s: read the authorizer_refresh_token of %s: %w", r.s.name, appid, err)
	}
	if h := r.seedHash(appid, seed); seed != "" && subtle.ConstantTimeCompare([]byte(h), []byte(storedSeed)) != 1 {
		// A new token in the settings: it replaces what grew from the old one.
		if err := r.put(ctx, appid, seed, seed); err != nil {
			return "", err
		}
		return seed, nil
	}
	token, err := r.s.seal.unsealFor(refreshTokenAD(appid), sealed)
	if err != nil {
		return "", fmt.Errorf("store %s: cannot unseal the authorizer_refresh_token of %s: %w", r.s.name, appid, err)
	}
	return token, nil
}

// SaveRefreshToken keeps token, which WeChat handed out for appid in place of
// the one RefreshToken returned.
func (r *RefreshTokenStore) SaveRefreshToken(ctx context.Context, appid, token string) error {
	if appid == "" || token == "" {
		return errors.New("save authorizer_refresh_token: no app or token")
	}
	return r.put(ctx, appid, r.seeds[appid], token)
}

func (r *RefreshTokenStore) put(ctx context.Context, appid, seed, token string) error {
	what := fmt.Sprintf("store %s: save the authorizer_refresh_token of %s", r.s.name, appid)
	seedHash, sealed := r.seedHash(appid, seed), r.s.seal.sealFor(refreshTokenAD(appid), token)
	return r.s.writeStmt(ctx, what, func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO refresh_tokens (app_id, seed_hash, token_sealed, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (app_id) DO UPDATE SET
			seed_hash = excluded.seed_hash, token_sealed = excluded.token_sealed, updated_at = excluded.updated_at`,
			appid, seedHash, sealed, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// SwapRefreshToken replaces appid's token with token only if it is still
// old ("" for none stored): a token rotated meanwhile by a token fetch
// (which holds the app's lock, not this) is never overwritten by an older
// one. It reports whether it replaced.
func (r *RefreshTokenStore) SwapRefreshToken(ctx context.Context, appid, old, token string) (bool, error) {
	what := fmt.Sprintf("store %s: replace the authorizer_refresh_token of %s", r.s.name, appid)
	swapped := false
	err := r.s.write(ctx, what, func(ctx context.Context, t tx) error {
		swapped = false
		lock := ""
		if r.s.db.pg {
			lock = " FOR UPDATE"
		}
		var sealed []byte
		err := t.QueryRowContext(ctx, `SELECT token_sealed FROM refresh_tokens WHERE app_id = ?`+lock, appid).Scan(&sealed)
		current := ""
		switch {
		case errors.Is(err, sql.ErrNoRows):
			current = r.seeds[appid]
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		default:
			if current, err = r.s.seal.unsealFor(refreshTokenAD(appid), sealed); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if subtle.ConstantTimeCompare([]byte(current), []byte(old)) != 1 {
			return nil
		}
		_, err = t.ExecContext(ctx, `INSERT INTO refresh_tokens (app_id, seed_hash, token_sealed, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (app_id) DO UPDATE SET seed_hash = excluded.seed_hash, token_sealed = excluded.token_sealed, updated_at = excluded.updated_at`,
			appid, r.seedHash(appid, r.seeds[appid]), r.s.seal.sealFor(refreshTokenAD(appid), token), time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		swapped = true
		return nil
	})
	return swapped, err
}

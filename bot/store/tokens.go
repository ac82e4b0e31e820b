package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/bindtester/bindtester/wechat"
)

// Tokens is the WeChat access tokens every process on this store shares
// (wechat.TokenStore): on PostgreSQL each key's refresh is serialized by an
// advisory lock held by the refresher's transaction, so it is freed if the
// refresher dies; on SQLite, which one bot process serves, by a lock in the
// process (the Store's, so every TokenStore it gives shares them). Tokens are
// sealed like WeChat IDs.
func (s *Store) Tokens() wechat.TokenStore { return &tokenStore{s: s} }

type tokenStore struct{ s *Store }

// keyLocks are a SQLite store's token locks, one per key: a 1-slot semaphore.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

// tokenAD binds a sealed token to its key.
func tokenAD(key string) string { return "bindtester store: access token " + key }

// WithTokenLock runs fn holding key's lock, with the stored token (see wechat.TokenStore).
func (ts *tokenStore) WithTokenLock(ctx context.Context, key string, fn func(context.Context, wechat.Token) (wechat.Token, error)) (wechat.Token, error) {
	if ts.s.db.pg {
		// Each held lock keeps a pooled connection busy, and fn may take
		// another key's lock inside (the component token under an app's), so
		// outer locks take one of a few slots and nested ones none: the pool
		// can never be used up by locks waiting for connections.
		if ctx.Value(holdingTokenLock{}) == nil {
			select {
			case ts.s.tokenSlots <- struct{}{}:
				defer func() { <-ts.s.tokenSlots }()
			case <-ctx.Done():
				return wechat.Token{}, fmt.Errorf("lock token %s: %w", key, ctx.Err())
			}
			ctx = context.WithValue(ctx, holdingTokenLock{}, true)
		}
		var out wechat.Token
		err := ts.s.inTx(ctx, "token "+key, func(t tx) error {
			if _, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "bindtester token "+key); err != nil {
				return fmt.Errorf("lock token %s: %w", key, err)
			}
			var err error
			out, err = ts.update(ctx, t, key, fn)
			return err
		})
		return out, err
	}
	unlock, err := ts.lockLocal(ctx, key)
	if err != nil {
		return wechat.Token{}, err
	}
	defer unlock()
	return ts.update(ctx, ts.s.db, key, fn)
}

// holdingTokenLock marks the context of a function holding a token lock.
type holdingTokenLock struct{}

// tokenLockSlots is how many outer token locks one process holds at once on
// PostgreSQL; with their nested ones they use at most twice as many of the
// pool's connections.
const tokenLockSlots = 4

func (ts *tokenStore) lockLocal(ctx context.Context, key string) (func(), error) {
	k := &ts.s.tokenLocks
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]chan struct{}{}
	}
	l := k.locks[key]
	if l == nil {
		l = make(chan struct{}, 1)
		k.locks[key] = l
	}
	k.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("lock token %s: %w", key, ctx.Err())
	}
}

// update reads key's token with q, runs fn and stores what it returns if it
// changed. On PostgreSQL q is the transaction holding the key's advisory
// lock, and the token is stored in it. On SQLite q is the pool and the token
// is stored through the committer while the caller holds the key's lock in
// the process: no write in a batch ever takes a token lock, so waiting for
// the committer with one held cannot deadlock.
func (ts *tokenStore) update(ctx context.Context, q querier, key string, fn func(context.Context, wechat.Token) (wechat.Token, error)) (wechat.Token, error) {
	stored, err := ts.read(ctx, q, key)
	if err != nil {
		return wechat.Token{}, err
	}
	tok, err := fn(ctx, stored)
	if err != nil || tok == stored {
		return tok, err
	}
	if tok.Value == "" {
		return tok, nil
	}
	what := fmt.Sprintf("store %s: save token %s", ts.s.name, key)
	sealed, hash := ts.s.seal.sealFor(tokenAD(key), tok.Value), ts.s.seal.keyedHash("access token", tok.Value)
	save := func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO tokens (key, token_sealed, token_hash, expires_at, fetched_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET token_sealed = excluded.token_sealed, token_hash = excluded.token_hash,
			expires_at = excluded.expires_at, fetched_at = excluded.fetched_at`,
			key, sealed, hash, unixNano(tok.ExpiresAt), unixNano(tok.Fetched))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if ts.s.db.pg {
		err = save(ctx, q)
	} else {
		err = ts.s.writeStmt(ctx, what, save)
	}
	if err != nil {
		return wechat.Token{}, err
	}
	return tok, nil
}

func (ts *tokenStore) read(ctx context.Context, q querier, key string) (wechat.Token, error) {
	var sealed []byte
	var expires, fetched int64
	err := q.QueryRowContext(ctx, `SELECT token_sealed, expires_at, fetched_at FROM tokens WHERE key = ?`, key).Scan(&sealed, &expires, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return wechat.Token{}, nil
	}
	if err != nil {
		return wechat.Token{}, fmt.Errorf("store %s: read token %s: %w", ts.s.name, key, err)
	}
	value, err := ts.s.seal.unsealFor(tokenAD(key), sealed)
	if err != nil {
		return wechat.Token{}, fmt.Errorf("store %s: cannot unseal token %s: %w", ts.s.name, key, err)
	}
	return wechat.Token{Value: value, ExpiresAt: fromUnixNano(expires), Fetched: fromUnixNano(fetched)}, nil
}

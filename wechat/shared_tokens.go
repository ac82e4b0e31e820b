package wechat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TokenStore keeps tokens where every replica reads them, and serializes their refresh.
// WeChat advises one central holder per token: replicas that each fetch their own waste
// the rationed fetches, and a forced refresh by one ends the token the others hold.
type TokenStore interface {
	// WithTokenLock calls fn while holding key's lock across all processes sharing the
	// store, passing the stored token (the zero Token if none). If fn returns a token
	// that differs from the stored one (in Value, ExpiresAt or Fetched), it is stored
	// before the lock is released, so the next holder sees it; WithTokenLock then
	// returns fn's token. An error from fn is returned as is and nothing is stored.
	//
	// The store must keep all three fields of a Token (to a second at least). The lock
	// must be freed when its holder dies (a transaction-scoped lock, or a lease that
	// runs out), and waiting for it must end when ctx is done. fn may take the lock of
	// another key: ComponentTokens takes "component:<component appid>" while holding an
	// app's key (never the other way round), so keys must not all share one
	// non-reentrant lock, such as a single database write transaction.
	WithTokenLock(ctx context.Context, key string, fn func(ctx context.Context, stored Token) (Token, error)) (Token, error)
}

// SharedTokens is a Fetcher that shares the tokens of Fetcher between all the processes
// using Store: under the app's lock (key Prefix+appid), a stored token that is neither
// the rejected one nor due for refresh is handed out without asking WeChat; otherwise
// Fetcher is asked (with rejected) and its token is stored. So replicas with a cold
// cache cause one fetch per app, and a rejection seen by several replicas replaces the
// token once: it is compare-and-expire, a token is replaced only while it is still the
// one that failed, never a newer one another replica already stored.
//
// Put a TokenCache in front of it (NewTokenCache(SharedTokens{...}, 0)) so the store is
// only read when the replica's own cache is cold, due for refresh or invalidated.
type SharedTokens struct {
	Fetcher Fetcher
	Store   TokenStore
	// Prefix is put before the appid to make the store key, e.g. "app:"; keys
	// starting with "component:" are ComponentTokens' own.
	Prefix string
}

// Fetch returns the shared token for appid, fetching and storing a new one only if the
// stored one is missing, rejected or due for refresh. If that fetch fails while the
// stored token has not yet expired (an early refresh), the stored token is returned.
func (s SharedTokens) Fetch(ctx context.Context, appid string, rejected string) (Token, error) {
	var fetchErr error
	tok, err := s.Store.WithTokenLock(ctx, s.Prefix+appid, func(ctx context.Context, stored Token) (Token, error) {
		usable := stored.Value != "" && stored.Value != rejected
		now := time.Now()
		if usable && now.Before(refreshAt(stored, now)) {
			return stored, nil
		}
		tok, err := s.Fetcher.Fetch(ctx, appid, rejected)
		if err != nil {
			if usable && time.Now().Before(stored.ExpiresAt) {
				return stored, nil // the early refresh failed: the stored token still works
			}
			fetchErr = err
			return Token{}, err
		}
		return tok, nil
	})
	if err != nil {
		if fetchErr != nil && errors.Is(err, fetchErr) {
			return Token{}, err
		}
		return Token{}, fmt.Errorf("wechat token store: %w", err)
	}
	return tok, nil
}

package wechat

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// TokenSource hands out the access token for a Mini Program's API calls.
type TokenSource interface {
	Token(ctx context.Context, appid string) (string, error)
	// Invalidate says WeChat rejected token for appid. The source drops it only if it
	// is still the one it holds, so a late rejection never discards a fresh token.
	Invalidate(appid, token string)
}

// Token is an access token, when it was obtained and when it stops working.
type Token struct {
	Value     string
	ExpiresAt time.Time
	// Fetched is when the token was obtained from WeChat. With ExpiresAt it gives the
	// token's lifetime, which decides how early it is refreshed (see refreshAt), also
	// when a token is read back from a TokenStore long after it was fetched. Zero means
	// "just now".
	Fetched time.Time
}

// refreshAt is when tok is due to be replaced: ahead of its expiry by a fifth of its
// lifetime, at most 5 minutes.
func refreshAt(tok Token, now time.Time) time.Time {
	start := tok.Fetched
	if start.IsZero() {
		start = now
	}
	margin := max(0, min(5*time.Minute, tok.ExpiresAt.Sub(start)/5))
	return tok.ExpiresAt.Add(-margin)
}

// Fetcher gets a token from wherever tokens come from. rejected is the token WeChat
// last refused for appid ("" if none): a source whose answer would be that very
// token gets a brand-new one instead (stable_token's force_refresh), so every source
// keeps the rule "refetch without force first, force only when handed back the
// rejected token". Sources that always mint a new token ignore it.
type Fetcher interface {
	Fetch(ctx context.Context, appid string, rejected string) (Token, error)
}

// TokenCache caches tokens per appid, refreshes them ahead of expiry and makes
// concurrent callers with a cold or stale cache share one fetch. It serves one
// process; for several replicas, put it in front of a SharedTokens:
// NewTokenCache(SharedTokens{...}, 0), so a replica goes to the shared store only when
// its own cache is cold, due for refresh or invalidated.
type TokenCache struct {
	fetcher Fetcher
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
	group   singleflight.Group
}

type cacheEntry struct {
	tok       Token
	refreshAt time.Time
	rejected  string // the last token WeChat rejected
}

// NewTokenCache wraps f. timeout bounds one shared fetch (default 30s): the fetch
// runs detached from any single caller, so one caller giving up does not fail the others.
func NewTokenCache(f Fetcher, timeout time.Duration) *TokenCache {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &TokenCache{fetcher: f, timeout: timeout, now: time.Now, entries: map[string]*cacheEntry{}}
}

// refreshRetry is how long a still-valid token is used after its early refresh failed.
const refreshRetry = 30 * time.Second

// Token returns a cached token or fetches one.
func (c *TokenCache) Token(ctx context.Context, appid string) (string, error) {
	c.mu.Lock()
	if e := c.entries[appid]; e != nil && e.tok.Value != "" && c.now().Before(e.refreshAt) {
		tok := e.tok.Value // Invalidate may clear e once the lock is released
		c.mu.Unlock()
		return tok, nil
	}
	c.mu.Unlock()

	ch := c.group.DoChan(appid, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		return c.refresh(fctx, appid)
	})
	select {
	case <-ctx.Done():
		return "", &TransportError{Kind: ErrTimeout, Path: "token", Detail: "waiting for an access token", cause: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			// A refresh ahead of expiry failed: the old token still works for now,
			// and the next refresh waits a little rather than hammer a failing source.
			c.mu.Lock()
			defer c.mu.Unlock()
			if e := c.entries[appid]; e != nil && e.tok.Value != "" && c.now().Before(e.tok.ExpiresAt) {
				e.refreshAt = c.now().Add(refreshRetry)
				if e.refreshAt.After(e.tok.ExpiresAt) {
					e.refreshAt = e.tok.ExpiresAt
				}
				return e.tok.Value, nil
			}
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

func (c *TokenCache) refresh(ctx context.Context, appid string) (string, error) {
	c.mu.Lock()
	var rejected string
	if e := c.entries[appid]; e != nil {
		rejected = e.rejected
	}
	c.mu.Unlock()

	tok, err := c.fetcher.Fetch(ctx, appid, rejected)
	if err != nil {
		return "", err
	}
	now := c.now()
	at := refreshAt(tok, now)
	if !at.After(now) {
		// Handed a token already due for refresh (a shared one whose refresh just
		// failed elsewhere in the chain): use it a little before asking again.
		at = now.Add(refreshRetry)
		if at.After(tok.ExpiresAt) {
			at = tok.ExpiresAt
		}
	}
	c.mu.Lock()
	c.entries[appid] = &cacheEntry{tok: tok, refreshAt: at}
	c.mu.Unlock()
	return tok.Value, nil
}

// Invalidate drops token for appid if it is still the cached one.
func (c *TokenCache) Invalidate(appid, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[appid]; e != nil && e.tok.Value == token {
		e.tok = Token{}
		e.rejected = token
	}
}

// StaticTokens is a fixed token for every app: for trials with a token copied by hand.
type StaticTokens string

func (s StaticTokens) Token(context.Context, string) (string, error) { return string(s), nil }
func (StaticTokens) Invalidate(string, string)                       {}

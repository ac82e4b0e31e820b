package wechattest

import (
	"context"
	"sync"

	"github.com/bindtester/bindtester/wechat"
)

// MemoryTokenStore is a wechat.TokenStore held in memory, with one lock per key: give the
// same one to several token stacks (TokenCache, SharedTokens, Client) to stand for bot
// replicas sharing a database. Its zero value is ready to use; all methods are safe for
// concurrent use.
type MemoryTokenStore struct {
	mu       sync.Mutex
	locks    map[string]chan struct{}
	tokens   map[string]wechat.Token
	acquired map[string]int
}

var _ wechat.TokenStore = (*MemoryTokenStore)(nil)

// WithTokenLock implements wechat.TokenStore. Waiting for the lock ends, with ctx's error,
// when ctx is done.
func (s *MemoryTokenStore) WithTokenLock(ctx context.Context, key string, fn func(ctx context.Context, stored wechat.Token) (wechat.Token, error)) (wechat.Token, error) {
	lock := s.lock(key)
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return wechat.Token{}, ctx.Err()
	}
	defer func() { <-lock }()

	s.mu.Lock()
	stored := s.tokens[key]
	s.acquired[key]++
	s.mu.Unlock()

	tok, err := fn(ctx, stored)
	if err != nil {
		return wechat.Token{}, err
	}
	if !same(tok, stored) {
		s.Put(key, tok)
	}
	return tok, nil
}

func (s *MemoryTokenStore) lock(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks == nil {
		s.locks = map[string]chan struct{}{}
		s.tokens = map[string]wechat.Token{}
		s.acquired = map[string]int{}
	}
	l := s.locks[key]
	if l == nil {
		l = make(chan struct{}, 1)
		s.locks[key] = l
	}
	return l
}

func same(a, b wechat.Token) bool {
	return a.Value == b.Value && a.ExpiresAt.Equal(b.ExpiresAt) && a.Fetched.Equal(b.Fetched)
}

// Token returns the token stored under key (the zero Token if none), without taking its lock.
func (s *MemoryTokenStore) Token(key string) wechat.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[key]
}

// Put stores tok under key without taking its lock: to seed the store, e.g. with a token
// from Server.IssueToken that is about to expire.
func (s *MemoryTokenStore) Put(key string, tok wechat.Token) {
	s.lock(key) // makes the maps
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[key] = tok
}

// Acquired reports how many times key's lock was taken: how often replicas went to the
// store for it.
func (s *MemoryTokenStore) Acquired(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acquired[key]
}

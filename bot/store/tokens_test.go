package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindtester/bindtester/internal/pgtest"
	"github.com/bindtester/bindtester/wechat"
)

// putToken stores tok under key through ts, failing the test if it cannot.
func putToken(t *testing.T, ts wechat.TokenStore, key string, tok wechat.Token) {
	t.Helper()
	got, err := ts.WithTokenLock(context.Background(), key, func(context.Context, wechat.Token) (wechat.Token, error) { return tok, nil })
	if err != nil || got != tok {
		t.Fatalf("storing %s: got %+v, %v", key, got, err)
	}
}

// storedToken reads key's token through ts, changing nothing.
func storedToken(t *testing.T, ts wechat.TokenStore, key string) wechat.Token {
	t.Helper()
	var stored wechat.Token
	_, err := ts.WithTokenLock(context.Background(), key, func(_ context.Context, tok wechat.Token) (wechat.Token, error) {
		stored = tok
		return tok, nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return stored
}

func sameToken(a, b wechat.Token) bool {
	return a.Value == b.Value && a.ExpiresAt.Equal(b.ExpiresAt) && a.Fetched.Equal(b.Fetched)
}

func TestTokenRoundTrip(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		tok := wechat.Token{Value: "tok-1", ExpiresAt: t0.Add(2 * time.Hour), Fetched: t0}
		putToken(t, s.Tokens(), "app:wx1", tok)
		// Another TokenStore on the same database (as after a restart) reads it back.
		for name, ts := range map[string]wechat.TokenStore{"same": s.Tokens(), "new": s.Tokens()} {
			if got := storedToken(t, ts, "app:wx1"); !sameToken(got, tok) {
				t.Errorf("%s TokenStore: stored token = %+v, want %+v", name, got, tok)
			}
		}
		if got := storedToken(t, s.Tokens(), "app:wx2"); got != (wechat.Token{}) {
			t.Errorf("token of a key never stored = %+v, want the zero Token", got)
		}

		// A newer token replaces it.
		tok2 := wechat.Token{Value: "tok-2", ExpiresAt: t0.Add(4 * time.Hour), Fetched: t0.Add(2 * time.Hour)}
		putToken(t, s.Tokens(), "app:wx1", tok2)
		if got := storedToken(t, s.Tokens(), "app:wx1"); !sameToken(got, tok2) {
			t.Errorf("after a refresh the stored token = %+v, want %+v", got, tok2)
		}
	})
}

func TestTokenNotStoredOnError(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ts := s.Tokens()
		tok := wechat.Token{Value: "tok-1", ExpiresAt: t0.Add(2 * time.Hour), Fetched: t0}
		putToken(t, ts, "app:wx1", tok)
		errQuota := errors.New("errcode 45009: daily quota reached")
		for _, key := range []string{"app:wx1", "app:wx2"} {
			_, err := ts.WithTokenLock(ctx, key, func(context.Context, wechat.Token) (wechat.Token, error) {
				return wechat.Token{Value: "half-fetched", ExpiresAt: t0.Add(time.Hour)}, errQuota
			})
			if !errors.Is(err, errQuota) {
				t.Errorf("%s: WithTokenLock = %v, want fn's error", key, err)
			}
		}
		if got := storedToken(t, ts, "app:wx1"); !sameToken(got, tok) {
			t.Errorf("after a failed refresh the stored token = %+v, want the old %+v", got, tok)
		}
		if got := storedToken(t, ts, "app:wx2"); got != (wechat.Token{}) {
			t.Errorf("a failed first fetch stored %+v", got)
		}
	})
}

func TestTokenIsSealed(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		const secret = "very_secret_access_token_42"
		putToken(t, s.Tokens(), "app:wx1", wechat.Token{Value: secret, ExpiresAt: t0.Add(time.Hour), Fetched: t0})
		assertNotStoredPlain(t, s, secret, "tokens")
		if got := storedToken(t, s.Tokens(), "app:wx1"); got.Value != secret {
			t.Errorf("unsealed token %q, want %q", got.Value, secret)
		}
	})
}

// serialize has n goroutines each take key's lock through the TokenStore
// tokens(i) gives, and increment the stored token's value. It checks that
// the lock was never held twice at once and that each holder saw the token
// its predecessor stored.
func serialize(t *testing.T, n int, key string, tokens func(i int) wechat.TokenStore) {
	t.Helper()
	var holders, maxHolders atomic.Int32
	seen := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ts := tokens(i)
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, errs[i] = ts.WithTokenLock(ctx, key, func(_ context.Context, stored wechat.Token) (wechat.Token, error) {
				h := holders.Add(1)
				defer holders.Add(-1)
				for m := maxHolders.Load(); h > m && !maxHolders.CompareAndSwap(m, h); m = maxHolders.Load() {
				}
				seen[i] = stored.Value
				prev, _ := strconv.Atoi(stored.Value) // "" is 0
				time.Sleep(2 * time.Millisecond)      // long enough for another holder to overlap, were the lock broken
				return wechat.Token{Value: strconv.Itoa(prev + 1), ExpiresAt: t0.Add(time.Hour), Fetched: t0}, nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", i, err)
		}
	}
	if m := maxHolders.Load(); m != 1 {
		t.Errorf("up to %d goroutines held the lock of %s at once, want 1", m, key)
	}
	got := map[string]bool{}
	for _, v := range seen {
		got[v] = true
	}
	for i := range n {
		want := strconv.Itoa(i)
		if i == 0 {
			want = ""
		}
		if !got[want] {
			t.Errorf("no holder saw token %q: holders saw %v; a refresh was lost or overwritten", want, seen)
		}
	}
	if v := storedToken(t, tokens(0), key).Value; v != strconv.Itoa(n) {
		t.Errorf("final token %q, want %q", v, strconv.Itoa(n))
	}
}

func TestTokenLockSerializes(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		t.Run("one TokenStore", func(t *testing.T) {
			ts := s.Tokens()
			serialize(t, 10, "app:one", func(int) wechat.TokenStore { return ts })
		})
		// The app tokens and the component token each get their own
		// TokenStore (cmd/bindtester); the lock is the store's, not theirs.
		t.Run("a TokenStore each", func(t *testing.T) {
			serialize(t, 10, "app:each", func(int) wechat.TokenStore { return s.Tokens() })
		})
	})
}

func TestTokenLockAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	replicas := []wechat.TokenStore{openTest(t, dsn, testKey).Tokens(), openTest(t, dsn, testKey).Tokens()}
	serialize(t, 10, "app:shared", func(i int) wechat.TokenStore { return replicas[i%2] })
}

func TestTokenLockNested(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ts := s.Tokens()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// ComponentTokens takes the component's key while holding an app's.
		app := wechat.Token{Value: "authorizer-token", ExpiresAt: t0.Add(time.Hour), Fetched: t0}
		comp := wechat.Token{Value: "component-token", ExpiresAt: t0.Add(2 * time.Hour), Fetched: t0}
		got, err := ts.WithTokenLock(ctx, "app:wx1", func(ctx context.Context, _ wechat.Token) (wechat.Token, error) {
			if _, err := ts.WithTokenLock(ctx, "component:wxc", func(context.Context, wechat.Token) (wechat.Token, error) {
				return comp, nil
			}); err != nil {
				return wechat.Token{}, fmt.Errorf("nested lock: %w", err)
			}
			return app, nil
		})
		if err != nil || got != app {
			t.Fatalf("WithTokenLock = %+v, %v", got, err)
		}
		for key, want := range map[string]wechat.Token{"app:wx1": app, "component:wxc": comp} {
			if got := storedToken(t, ts, key); !sameToken(got, want) {
				t.Errorf("%s = %+v, want %+v", key, got, want)
			}
		}
	})
}

func TestTokenLockWaitEndsWithContext(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ts := s.Tokens()
		held, release := make(chan struct{}), make(chan struct{})
		holderDone := make(chan error, 1)
		go func() {
			_, err := ts.WithTokenLock(context.Background(), "app:wx1", func(context.Context, wechat.Token) (wechat.Token, error) {
				close(held)
				<-release
				return wechat.Token{Value: "holder", ExpiresAt: t0.Add(time.Hour), Fetched: t0}, nil
			})
			holderDone <- err
		}()
		<-held

		var ran atomic.Bool
		waitDone := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := s.Tokens().WithTokenLock(ctx, "app:wx1", func(context.Context, wechat.Token) (wechat.Token, error) {
				ran.Store(true)
				return wechat.Token{Value: "waiter", ExpiresAt: t0.Add(time.Hour), Fetched: t0}, nil
			})
			waitDone <- err
		}()
		select {
		case err := <-waitDone:
			if err == nil {
				t.Error("WithTokenLock got a held lock")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WithTokenLock still waits for the lock after its context ended")
		}
		if ran.Load() {
			t.Error("fn ran without the lock")
		}
		// Meanwhile other keys are free.
		putToken(t, ts, "app:wx2", wechat.Token{Value: "other", ExpiresAt: t0, Fetched: t0})

		close(release)
		if err := <-holderDone; err != nil {
			t.Fatalf("holder: %v", err)
		}
		// The given-up wait left nothing behind: the lock is free, the holder's token kept.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var stored wechat.Token
		if _, err := ts.WithTokenLock(ctx, "app:wx1", func(_ context.Context, tok wechat.Token) (wechat.Token, error) {
			stored = tok
			return tok, nil
		}); err != nil {
			t.Fatalf("lock after the holder released it: %v", err)
		}
		if stored.Value != "holder" {
			t.Errorf("stored token %q, want the holder's", stored.Value)
		}
	})
}

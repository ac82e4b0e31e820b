package wechattest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

func TestMemoryTokenStore(t *testing.T) {
	var s MemoryTokenStore
	ctx := context.Background()
	tok := wechat.Token{Value: "tok-1", ExpiresAt: time.Now().Add(time.Hour), Fetched: time.Now()}
	keep := func(_ context.Context, stored wechat.Token) (wechat.Token, error) { return stored, nil }

	if got, err := s.WithTokenLock(ctx, "app:a", keep); err != nil || got != (wechat.Token{}) {
		t.Fatalf("empty store: %+v, %v", got, err)
	}
	if _, err := s.WithTokenLock(ctx, "app:a", func(context.Context, wechat.Token) (wechat.Token, error) { return tok, nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.WithTokenLock(ctx, "app:a", keep); got.Value != "tok-1" || s.Token("app:a").Value != "tok-1" {
		t.Fatalf("stored %+v", got)
	}
	boom := errors.New("boom")
	if _, err := s.WithTokenLock(ctx, "app:a", func(context.Context, wechat.Token) (wechat.Token, error) {
		return wechat.Token{Value: "half-done"}, boom
	}); !errors.Is(err, boom) || s.Token("app:a").Value != "tok-1" {
		t.Fatalf("failed fn: %v, stored %q", err, s.Token("app:a").Value)
	}
	if got := s.Acquired("app:a"); got != 4 {
		t.Fatalf("acquired %d, want 4", got)
	}

	// While a key is held, another key is free and a waiter on the same key gives up with its ctx.
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WithTokenLock(ctx, "app:a", func(context.Context, wechat.Token) (wechat.Token, error) {
			close(held)
			<-release
			return tok, nil
		})
	}()
	<-held
	if _, err := s.WithTokenLock(ctx, "component:c", keep); err != nil {
		t.Fatalf("other key while app:a is held: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.WithTokenLock(wctx, "app:a", keep); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting on a held key: %v", err)
	}
	close(release)
	<-done
	if _, err := s.WithTokenLock(ctx, "app:a", keep); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
)

// Many apps refreshing at once, each taking the platform's component token
// lock inside its own, never use up the PostgreSQL pool: all finish.
func TestTokenLocksNeverExhaustThePool(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ts := s.Tokens()
		var wg sync.WaitGroup
		errs := make([]error, 20)
		start := make(chan struct{})
		for i := range 20 {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_, errs[i] = ts.WithTokenLock(ctx, fmt.Sprintf("app:%d", i), func(ctx context.Context, _ wechat.Token) (wechat.Token, error) {
					time.Sleep(20 * time.Millisecond)
					return ts.WithTokenLock(ctx, "component:c", func(context.Context, wechat.Token) (wechat.Token, error) {
						return wechat.Token{Value: "c", ExpiresAt: t0, Fetched: t0}, nil
					})
				})
			})
		}
		close(start)
		wg.Wait()
		for i, e := range errs {
			if e != nil {
				t.Errorf("refresh %d: %v", i, e)
			}
		}
	})
}

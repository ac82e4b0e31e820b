package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFirstSeen(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, tc := range []struct {
			key  string
			want bool
		}{
			{"Ev01", true},
			{"Ev01", false}, // Slack's redelivery, or the same envelope at another replica
			{"Ev02", true},
			{"", true}, // no id to recognize it by: always handled
			{"", true},
			{"Ev01", false},
		} {
			if got, err := s.FirstSeen(ctx, tc.key, t0); err != nil || got != tc.want {
				t.Errorf("FirstSeen(%q) = %v, %v; want %v", tc.key, got, err, tc.want)
			}
		}
	})
}

func TestFirstSeenConcurrently(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		const n = 8
		var first atomic.Int32
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				ok, err := s.FirstSeen(context.Background(), "Ev-same", t0)
				errs[i] = err
				if ok {
					first.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		if got := first.Load(); got != 1 {
			t.Errorf("%d goroutines were told the envelope is new, want exactly 1", got)
		}
	})
}

func TestForgetSeen(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, key := range []string{"old", "edge", "new"} {
			if ok, err := s.FirstSeen(ctx, key, t0.Add(time.Duration(i)*time.Minute)); err != nil || !ok {
				t.Fatalf("FirstSeen(%s) = %v, %v", key, ok, err)
			}
		}
		if err := s.ForgetSeen(ctx, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			key     string
			forgot  bool
			comment string
		}{
			{"edge", false, "seen exactly at the cut-off: kept"},
			{"new", false, "seen after the cut-off: kept"},
			{"old", true, "seen before the cut-off: forgotten"},
		} {
			if got, err := s.FirstSeen(ctx, tc.key, t0.Add(time.Hour)); err != nil || got != tc.forgot {
				t.Errorf("FirstSeen(%s) after ForgetSeen = %v, %v; want %v (%s)", tc.key, got, err, tc.forgot, tc.comment)
			}
		}
	})
}

package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// Whoever opened their App Home lately is found by any replica; an older
// opening, or someone who never opened it, is not; opening again renews it.
func TestHomeViewers(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for user, at := range map[string]time.Time{"U1": t0, "U2": t0.Add(-48 * time.Hour), "U3": t0.Add(time.Minute)} {
			if err := s.HomeOpened(ctx, user, at); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.HomeViewers(ctx, []string{"U1", "U2", "U3", "U4"}, t0.Add(-24*time.Hour))
		if err != nil || !reflect.DeepEqual(got, []string{"U1", "U3"}) {
			t.Fatalf("viewers %v, %v; want U1 and U3", got, err)
		}
		if err := s.HomeOpened(ctx, "U2", t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.HomeViewers(ctx, []string{"U2"}, t0.Add(-24*time.Hour)); !reflect.DeepEqual(got, []string{"U2"}) {
			t.Errorf("after opening again: %v; want U2", got)
		}
		if got, err := s.HomeViewers(ctx, nil, t0); err != nil || len(got) != 0 {
			t.Errorf("no users: %v, %v", got, err)
		}
	})
}

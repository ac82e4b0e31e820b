package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

func TestPlatformAppsKeepWhatDiscoverySaw(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Unix(1_800_000_000, 0)
		shop := bot.PlatformApp{AppID: "wx1111111111111111", Nickname: "Shop", PermissionSets: []int{17, 18}, MiniProgram: true, SeenAt: at}
		blog := bot.PlatformApp{AppID: "wx2222222222222222", Nickname: "Blog", PermissionSets: []int{1}, MiniProgram: true, SeenAt: at}
		if err := s.SavePlatformApps(ctx, []bot.PlatformApp{shop, blog}, true); err != nil {
			t.Fatal(err)
		}
		got, err := s.PlatformApps(ctx)
		if err != nil || len(got) != 2 || !got[0].CanManageTesters() || got[1].CanManageTesters() || got[0].Nickname != "Shop" || !got[0].SeenAt.Equal(at) {
			t.Fatalf("apps %+v, %v; want Shop with set 18 and Blog without", got, err)
		}
		// A later full discovery without Blog: Blog was revoked, Shop renamed.
		shop.Nickname = "Shop 2"
		if err := s.SavePlatformApps(ctx, []bot.PlatformApp{shop}, true); err != nil {
			t.Fatal(err)
		}
		got, _ = s.PlatformApps(ctx)
		if len(got) != 2 || got[0].Nickname != "Shop 2" || got[0].Revoked || !got[1].Revoked {
			t.Errorf("apps %+v; want Shop 2 kept and Blog revoked", got)
		}
		// A notice about one app leaves the others alone.
		blog.Revoked = false
		if err := s.SavePlatformApps(ctx, []bot.PlatformApp{blog}, false); err != nil {
			t.Fatal(err)
		}
		got, _ = s.PlatformApps(ctx)
		if got[0].Revoked || got[1].Revoked {
			t.Errorf("apps %+v; want both authorized", got)
		}
	})
}

func TestOneReplicaClaimsEachDiscovery(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now()
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				ok, err := s.ClaimDiscovery(ctx, now, now.Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d claims won, want 1", won.Load())
		}
		if ok, _ := s.ClaimDiscovery(ctx, now.Add(30*time.Minute), now.Add(2*time.Hour)); ok {
			t.Error("claimed again before the next discovery was due")
		}
		if ok, _ := s.ClaimDiscovery(ctx, now.Add(time.Hour), now.Add(2*time.Hour)); !ok {
			t.Error("the next discovery, due, was not claimed")
		}
	})
}

func TestTicketsAreSharedAndExpire(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		tk := s.Tickets("wxcccccccccccccccc")
		if _, err := tk.Ticket(ctx); err == nil || !strings.Contains(err.Error(), "BINDTESTER_PLATFORM_LISTEN") {
			t.Errorf("no ticket yet: %v; want advice naming the endpoint's setting", err)
		}
		if err := tk.Save(ctx, "ticket@@@1", time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Tickets("wxcccccccccccccccc").Ticket(ctx); err != nil || got != "ticket@@@1" {
			t.Errorf("Ticket = %q, %v; want the saved one", got, err)
		}
		if err := tk.Save(ctx, "ticket@@@old", time.Now().Add(-13*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Ticket(ctx); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("13-hour-old ticket: %v; want expired", err)
		}
		var raw []byte
		if err := s.db.QueryRowContext(ctx, `SELECT token_sealed FROM tokens WHERE key = ?`, "ticket:wxcccccccccccccccc").Scan(&raw); err != nil || strings.Contains(string(raw), "ticket@@@") {
			t.Errorf("ticket stored in plain text: %q, %v", raw, err)
		}
	})
}

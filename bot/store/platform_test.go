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
		ch, err := s.SavePlatformApps(ctx, []bot.PlatformApp{shop, blog}, &bot.FullList{At: at, AppIDs: []string{shop.AppID, blog.AppID}})
		if err != nil || len(ch.Added) != 2 || len(ch.Revoked) != 0 {
			t.Fatalf("first save: %+v, %v; want both added", ch, err)
		}
		got, err := s.PlatformApps(ctx)
		if err != nil || len(got) != 2 || !got[0].CanManageTesters() || got[1].CanManageTesters() || got[0].Nickname != "Shop" || !got[0].SeenAt.Equal(at) {
			t.Fatalf("apps %+v, %v; want Shop with set 18 and Blog without", got, err)
		}
		// The same again: nothing changed, nothing to tell.
		if ch, _ := s.SavePlatformApps(ctx, []bot.PlatformApp{shop, blog}, &bot.FullList{At: at, AppIDs: []string{shop.AppID, blog.AppID}}); len(ch.Added)+len(ch.Revoked) != 0 {
			t.Errorf("saving the same apps again reported %+v", ch)
		}
		// A later full list without Blog: Blog was revoked, Shop renamed.
		later := at.Add(time.Hour)
		shop.Nickname, shop.SeenAt = "Shop 2", later
		ch, err = s.SavePlatformApps(ctx, []bot.PlatformApp{shop}, &bot.FullList{At: later, AppIDs: []string{shop.AppID}})
		if err != nil || len(ch.Revoked) != 1 || ch.Revoked[0].AppID != blog.AppID || len(ch.Added) != 0 {
			t.Fatalf("later save: %+v, %v; want Blog revoked", ch, err)
		}
		got, _ = s.PlatformApps(ctx)
		if len(got) != 2 || got[0].Nickname != "Shop 2" || got[0].Revoked || !got[1].Revoked {
			t.Errorf("apps %+v; want Shop 2 kept and Blog revoked", got)
		}
		// A notice authorizing Blog again, seen after the discovery: added back.
		blog.Revoked, blog.SeenAt = false, later.Add(time.Minute)
		if ch, _ := s.SavePlatformApps(ctx, []bot.PlatformApp{blog}, nil); len(ch.Added) != 1 {
			t.Errorf("Blog authorized again: %+v; want it added", ch)
		}
		// A discovery that read its list before that notice leaves Blog as the notice left it,
		// though its list did not hold it, and does not undo a later revocation of Shop.
		shopGone := shop
		shopGone.Revoked, shopGone.SeenAt = true, later.Add(2*time.Minute)
		s.SavePlatformApps(ctx, []bot.PlatformApp{shopGone}, nil)
		stale := shop
		stale.SeenAt = later.Add(30 * time.Second)
		ch, err = s.SavePlatformApps(ctx, []bot.PlatformApp{stale}, &bot.FullList{At: later.Add(30 * time.Second), AppIDs: []string{shop.AppID}})
		if err != nil || len(ch.Added)+len(ch.Revoked) != 0 {
			t.Errorf("a discovery older than the notices changed %+v, %v", ch, err)
		}
		got, _ = s.PlatformApps(ctx)
		if !got[0].Revoked || got[1].Revoked {
			t.Errorf("apps %+v; want Shop still revoked and Blog still authorized, as the notices left them", got)
		}
	})
}

func TestPlatformChangesReportedOnceAcrossReplicas(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		app := bot.PlatformApp{AppID: "wx3333333333333333", Nickname: "Fresh", PermissionSets: []int{18}, MiniProgram: true, SeenAt: time.Now()}
		var added atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				ch, err := s.SavePlatformApps(ctx, []bot.PlatformApp{app}, nil)
				if err != nil {
					t.Error(err)
				}
				added.Add(int32(len(ch.Added)))
			})
		}
		wg.Wait()
		if added.Load() != 1 {
			t.Errorf("the new app was reported %d times by six savers, want once", added.Load())
		}
	})
}

func TestSwapRefreshTokenKeepsANewerOne(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const app = "wx4444444444444444"
		rt := s.RefreshTokens(nil)
		if ok, err := rt.SwapRefreshToken(ctx, app, "", "refresh@@@1"); err != nil || !ok {
			t.Fatalf("first token: %v, %v", ok, err)
		}
		rt.SaveRefreshToken(ctx, app, "refresh@@@2-rotated") // a token fetch rotated it
		if ok, err := rt.SwapRefreshToken(ctx, app, "refresh@@@1", "refresh@@@1-from-discovery"); err != nil || ok {
			t.Errorf("swap over a rotated token: %v, %v; want refused", ok, err)
		}
		if tok, _ := rt.RefreshToken(ctx, app); tok != "refresh@@@2-rotated" {
			t.Errorf("token %q; want the rotated one kept", tok)
		}
		if ok, _ := rt.SwapRefreshToken(ctx, app, "refresh@@@2-rotated", "refresh@@@3"); !ok {
			t.Error("swap of the current token refused")
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
		if ok, _ := s.ClaimDiscovery(ctx, now.Add(time.Minute), now.Add(2*time.Hour)); ok {
			t.Error("claimed again while the claim runs")
		}
		// The claimer died: its claim runs out and another takes it.
		if ok, _ := s.ClaimDiscovery(ctx, now.Add(time.Hour), now.Add(2*time.Hour)); !ok {
			t.Error("a claim that ran out was not taken over")
		}
		// It ran: the next is due after the interval, not before.
		if err := s.ScheduleDiscovery(ctx, now.Add(6*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.ClaimDiscovery(ctx, now.Add(3*time.Hour), now.Add(4*time.Hour)); ok {
			t.Error("claimed before the scheduled time")
		}
		if ok, _ := s.ClaimDiscovery(ctx, now.Add(6*time.Hour), now.Add(7*time.Hour)); !ok {
			t.Error("the scheduled discovery was not claimed")
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

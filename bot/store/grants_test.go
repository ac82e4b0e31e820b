package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

func TestSaveGrantCreatesAndFinds(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		in := bot.Grant{
			AppID: "wxapp", WechatMasked: "te***ne", UserStr: "us1", Requester: "U1",
			Thread:    bot.ThreadRef{Channel: "C1", ParentTS: "1.1", ThreadTS: "1.2"},
			CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
		}
		g, err := s.SaveGrant(ctx, in, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.ID, want.State = g.ID, bot.GrantActive
		want.CreatedAt, want.ExpiresAt = t0.UTC(), t0.Add(24*time.Hour).UTC()
		if g.ID == 0 || !reflect.DeepEqual(g, want) {
			t.Errorf("SaveGrant = %+v, want %+v", g, want)
		}
		for name, get := range map[string]func() (bot.Grant, error){
			"FindGrant": func() (bot.Grant, error) { return s.FindGrant(ctx, "wxapp", "tester_one") },
			"Grant":     func() (bot.Grant, error) { return s.Grant(ctx, g.ID) },
		} {
			if got, err := get(); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %+v, %v; want %+v", name, got, err, want)
			}
		}
		if id, err := s.GrantWechatID(ctx, g.ID); err != nil || id != "tester_one" {
			t.Errorf("GrantWechatID = %q, %v", id, err)
		}
		// The mask defaults to bot.MaskWechatID.
		g2, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, "tester_two")
		if err != nil || g2.WechatMasked != "te***wo" {
			t.Errorf("SaveGrant without mask = %+v, %v", g2, err)
		}
	})
}

func TestGrantNotFound(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		g, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, "tester_one")
		if err != nil {
			t.Fatal(err)
		}
		ended, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, "tester_ended")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.EndGrant(ctx, ended.ID, "U1", t0); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"FindGrant other app":    func() error { _, err := s.FindGrant(ctx, "wxother", "tester_one"); return err },
			"FindGrant other person": func() error { _, err := s.FindGrant(ctx, "wxapp", "tester_two"); return err },
			"FindGrant ended":        func() error { _, err := s.FindGrant(ctx, "wxapp", "tester_ended"); return err },
			"Grant":                  func() error { _, err := s.Grant(ctx, g.ID+100); return err },
			"GrantWechatID":          func() error { _, err := s.GrantWechatID(ctx, g.ID+100); return err },
			"EndGrant":               func() error { _, err := s.EndGrant(ctx, g.ID+100, "", t0); return err },
		} {
			err := call()
			if !errors.Is(err, bot.ErrNotFound) {
				t.Errorf("%s: %v, want bot.ErrNotFound", name, err)
			}
			if err != nil && strings.Contains(err.Error(), "tester_") {
				t.Errorf("%s: error %q holds a full WeChat ID", name, err)
			}
		}
	})
}

func TestSaveGrantExtends(t *testing.T) {
	tests := []struct {
		name        string
		second      bot.Grant
		wantExpires time.Time
		wantUserStr string
		wantThread  string
		wantFresh   bool // warned and retry state reset
	}{
		{
			name:        "later expiry extends and keeps userstr",
			second:      bot.Grant{ExpiresAt: t0.Add(48 * time.Hour), Requester: "U2", Thread: bot.ThreadRef{Channel: "C2"}},
			wantExpires: t0.Add(48 * time.Hour), wantUserStr: "us1", wantThread: "C2", wantFresh: true,
		},
		{
			name:        "earlier expiry never shortens",
			second:      bot.Grant{ExpiresAt: t0.Add(time.Hour), Requester: "U2", Thread: bot.ThreadRef{Channel: "C2"}},
			wantExpires: t0.Add(24 * time.Hour), wantUserStr: "us1", wantThread: "C1",
		},
		{
			name:        "new userstr replaces old even when not extending",
			second:      bot.Grant{ExpiresAt: t0.Add(time.Hour), UserStr: "us2"},
			wantExpires: t0.Add(24 * time.Hour), wantUserStr: "us2", wantThread: "C1",
		},
		{
			name:        "same expiry changes nothing",
			second:      bot.Grant{ExpiresAt: t0.Add(24 * time.Hour), Requester: "U2", Thread: bot.ThreadRef{Channel: "C2"}},
			wantExpires: t0.Add(24 * time.Hour), wantUserStr: "us1", wantThread: "C1",
		},
	}
	for _, tc := range tests {
		eachEngine(t, func(t *testing.T, s *Store) {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				first, err := s.SaveGrant(ctx, bot.Grant{
					AppID: "wxapp", UserStr: "us1", Requester: "U1", Thread: bot.ThreadRef{Channel: "C1"},
					CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
				}, "tester_one")
				if err != nil {
					t.Fatal(err)
				}
				s.WarningSent(ctx, first.ID, t0.Add(23*time.Hour))
				unbindFailed(ctx, s.db, first.ID, "system busy", t0.Add(25*time.Hour))

				tc.second.AppID, tc.second.CreatedAt = "wxapp", t0.Add(time.Hour)
				g, err := s.SaveGrant(ctx, tc.second, "tester_one")
				if err != nil {
					t.Fatal(err)
				}
				if g.ID != first.ID {
					t.Fatalf("second SaveGrant made grant %d, want the same grant %d", g.ID, first.ID)
				}
				if !g.ExpiresAt.Equal(tc.wantExpires) || g.UserStr != tc.wantUserStr || g.Thread.Channel != tc.wantThread {
					t.Errorf("got expiry %v userstr %q thread %q; want %v %q %q", g.ExpiresAt, g.UserStr, g.Thread.Channel, tc.wantExpires, tc.wantUserStr, tc.wantThread)
				}
				if !g.CreatedAt.Equal(t0) {
					t.Errorf("CreatedAt moved to %v", g.CreatedAt)
				}
				if fresh := g.WarnedAt.IsZero() && g.Attempts == 0 && g.NextAttempt.IsZero() && g.LastError == ""; fresh != tc.wantFresh {
					t.Errorf("warned/retry state reset = %v, want %v (%+v)", fresh, tc.wantFresh, g)
				}
				if stored, _ := s.Grant(ctx, g.ID); !reflect.DeepEqual(stored, g) {
					t.Errorf("SaveGrant returned %+v, stored %+v", g, stored)
				}
				if all, _ := s.ActiveGrants(ctx, bot.GrantFilter{}); len(all) != 1 {
					t.Errorf("%d active grants, want 1", len(all))
				}
			})
		})
	}
}

func TestSaveGrantAfterEndStartsNewGrant(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		first, _ := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, "tester_one")
		if _, err := s.EndGrant(ctx, first.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		second, err := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0.Add(time.Hour)}, "tester_one")
		if err != nil || second.ID == first.ID || second.State != bot.GrantActive {
			t.Fatalf("SaveGrant after end = %+v, %v; want a new active grant", second, err)
		}
		if found, err := s.FindGrant(ctx, "wxapp", "tester_one"); err != nil || found.ID != second.ID {
			t.Errorf("FindGrant = %+v, %v; want grant %d", found, err, second.ID)
		}
	})
}

func TestSaveGrantRejectsIncomplete(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		for _, g := range []bot.Grant{{ExpiresAt: t0}, {AppID: "wxapp"}} {
			if _, err := s.SaveGrant(context.Background(), g, "tester_one"); err == nil {
				t.Errorf("SaveGrant(%+v) succeeded", g)
			}
		}
		if _, err := s.SaveGrant(context.Background(), bot.Grant{AppID: "wxapp", ExpiresAt: t0}, ""); err == nil {
			t.Error("SaveGrant without a WeChat ID succeeded")
		}
	})
}

// grantSet saves grants named by WeChat ID, expiring at t0+offset, and
// returns their ids by name.
func grantSet(t *testing.T, s *Store, app string, expiries map[string]time.Duration) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	for name, d := range expiries {
		g, err := s.SaveGrant(context.Background(), bot.Grant{AppID: app, Requester: "U" + name, CreatedAt: t0, ExpiresAt: t0.Add(d)}, name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = g.ID
	}
	return ids
}

func names(gs []bot.Grant) []string {
	var ns []string
	for _, g := range gs {
		ns = append(ns, g.Requester[1:])
	}
	return ns
}

func TestActiveGrants(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := grantSet(t, s, "wxA", map[string]time.Duration{"late": 3 * time.Hour, "soon": time.Hour, "ended": 2 * time.Hour})
		grantSet(t, s, "wxB", map[string]time.Duration{"other": 90 * time.Minute})
		s.EndGrant(ctx, a["ended"], "U1", t0)
		for _, tc := range []struct {
			f    bot.GrantFilter
			want []string
		}{
			{bot.GrantFilter{}, []string{"soon", "other", "late"}},
			{bot.GrantFilter{AppID: "wxA"}, []string{"soon", "late"}},
			{bot.GrantFilter{Requester: "Uother"}, []string{"other"}},
			{bot.GrantFilter{AppID: "wxA", Requester: "Uother"}, nil},
		} {
			gs, err := s.ActiveGrants(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(gs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ActiveGrants(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		}
	})
}

func TestDueGrants(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := t0.Add(time.Hour)
		ids := grantSet(t, s, "wxapp", map[string]time.Duration{
			"past":       -time.Hour,
			"exactly":    time.Hour, // expires_at == now: due
			"future":     time.Hour + time.Nanosecond,
			"ended":      -time.Hour,
			"retrylater": -2 * time.Hour, // failed; next attempt after now
			"retrynow":   -3 * time.Hour, // failed; next attempt == now
		})
		s.EndGrant(ctx, ids["ended"], "", t0)
		if err := unbindFailed(ctx, s.db, ids["retrylater"], "system busy", now.Add(time.Nanosecond)); err != nil {
			t.Fatal(err)
		}
		if err := unbindFailed(ctx, s.db, ids["retrynow"], "system busy", now); err != nil {
			t.Fatal(err)
		}
		gs, err := s.DueGrants(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(gs), []string{"retrynow", "past", "exactly"}; !reflect.DeepEqual(got, want) {
			t.Errorf("DueGrants = %v, want %v", got, want)
		}
		// A moment later the retried grant's next attempt has come, and "future" expired.
		gs, _ = s.DueGrants(ctx, now.Add(time.Nanosecond))
		if got, want := names(gs), []string{"retrynow", "retrylater", "past", "exactly", "future"}; !reflect.DeepEqual(got, want) {
			t.Errorf("DueGrants a moment later = %v, want %v", got, want)
		}
	})
}

func TestUnbindFailed(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		g, _ := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, "tester_one")
		for i, next := range []time.Time{t0.Add(time.Minute), t0.Add(5 * time.Minute)} {
			if err := unbindFailed(ctx, s.db, g.ID, "errcode -1: system busy", next); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Grant(ctx, g.ID)
			if got.Attempts != i+1 || !got.NextAttempt.Equal(next) || got.LastError != "errcode -1: system busy" || got.State != bot.GrantActive {
				t.Errorf("after failure %d: %+v", i+1, got)
			}
			if due, _ := s.DueGrants(ctx, next.Add(-time.Nanosecond)); len(due) != 0 {
				t.Errorf("grant due before its next attempt: %+v", due)
			}
			if due, _ := s.DueGrants(ctx, next); len(due) != 1 {
				t.Errorf("grant not due at its next attempt")
			}
		}
	})
}

func TestWarnGrants(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now, before := t0, t0.Add(time.Hour)
		ids := grantSet(t, s, "wxapp", map[string]time.Duration{
			"expired": 0,                           // expires_at == now: too late to warn
			"justin":  time.Nanosecond,             // just after now
			"edge":    time.Hour,                   // expires_at == before: warned
			"beyond":  time.Hour + time.Nanosecond, // after before
			"warned":  30 * time.Minute,
			"ended":   30 * time.Minute,
		})
		if err := s.WarningSent(ctx, ids["warned"], now); err != nil {
			t.Fatal(err)
		}
		s.EndGrant(ctx, ids["ended"], "U1", now)
		gs, err := s.WarnGrants(ctx, now, before)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(gs), []string{"justin", "edge"}; !reflect.DeepEqual(got, want) {
			t.Errorf("WarnGrants = %v, want %v", got, want)
		}
		if g, _ := s.Grant(ctx, ids["warned"]); !g.WarnedAt.Equal(now) {
			t.Errorf("WarnedAt = %v, want %v", g.WarnedAt, now)
		}
		if err := s.WarningSent(ctx, ids["edge"], time.Time{}); err == nil {
			t.Error("WarningSent accepted a zero time")
		}
		if again, err := s.ClaimWarning(ctx, ids["warned"], now.Add(time.Minute), now.Add(time.Hour)); err != nil || again {
			t.Errorf("ClaimWarning of a sent warning = %v, %v; want false: each warning is sent once", again, err)
		}
		// A live claim keeps others off; one whose holder died runs out.
		edge := ids["edge"]
		if ok, err := s.ClaimWarning(ctx, edge, now, now.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("first claim = %v, %v", ok, err)
		}
		if ok, _ := s.ClaimWarning(ctx, edge, now.Add(30*time.Second), now.Add(time.Hour)); ok {
			t.Error("a second process claimed a warning under a live claim")
		}
		if got, _ := s.WarnGrants(ctx, now.Add(30*time.Second), now.Add(25*time.Hour)); slices.ContainsFunc(got, func(g bot.Grant) bool { return g.ID == edge }) {
			t.Error("WarnGrants lists a warning under a live claim")
		}
		if ok, err := s.ClaimWarning(ctx, edge, now.Add(2*time.Minute), now.Add(time.Hour)); err != nil || !ok {
			t.Errorf("claim after the first ran out = %v, %v; want true", ok, err)
		}
	})
}

func TestEndGrantOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		g, _ := s.SaveGrant(ctx, bot.Grant{AppID: "wxapp", ExpiresAt: t0}, "tester_one")
		ended, err := s.EndGrant(ctx, g.ID, "U1", t0.Add(time.Minute))
		if err != nil || !ended {
			t.Fatalf("first EndGrant = %v, %v; want true", ended, err)
		}
		ended, err = s.EndGrant(ctx, g.ID, "", t0.Add(time.Hour))
		if err != nil || ended {
			t.Fatalf("second EndGrant = %v, %v; want false", ended, err)
		}
		got, _ := s.Grant(ctx, g.ID)
		if got.State != bot.GrantEnded || got.EndedBy != "U1" || !got.EndedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("after two ends: %+v; want the first end kept", got)
		}
		if active, _ := s.ActiveGrants(ctx, bot.GrantFilter{}); len(active) != 0 {
			t.Errorf("ended grant still active: %+v", active)
		}
	})
}

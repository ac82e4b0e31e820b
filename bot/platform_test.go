package bot_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
	"github.com/bindtester/bindtester/wechat"
)

// fakePlatform is a third-party platform's view of its authorizers.
type fakePlatform struct {
	mu     sync.Mutex
	list   []wechat.Authorizer
	info   map[string]wechat.AuthorizerInfo
	errs   map[string]error
	during func(appid string) // runs inside AuthorizerInfo, before it answers
}

func (p *fakePlatform) Authorizers(context.Context) ([]wechat.Authorizer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wechat.Authorizer(nil), p.list...), nil
}

func (p *fakePlatform) AuthorizerInfo(_ context.Context, appid string) (wechat.AuthorizerInfo, error) {
	if p.during != nil {
		p.during(appid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.errs[appid]; err != nil {
		return wechat.AuthorizerInfo{}, err
	}
	return p.info[appid], nil
}

func (p *fakePlatform) add(appid, nickname, refresh string, sets ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(slices.DeleteFunc(p.list, func(a wechat.Authorizer) bool { return a.AppID == appid }),
		wechat.Authorizer{AppID: appid, RefreshToken: refresh})
	if p.info == nil {
		p.info, p.errs = map[string]wechat.AuthorizerInfo{}, map[string]error{}
	}
	p.info[appid] = wechat.AuthorizerInfo{AppID: appid, Nickname: nickname, RefreshToken: refresh, PermissionSets: sets, MiniProgram: true}
}

const (
	appFound1 = "wx00000000000000f1"
	appFound2 = "wx00000000000000f2"
	appFound3 = "wx00000000000000f3"
)

func TestDiscoveryKeepsWhatItCanTrust(t *testing.T) {
	f := newFixture(t)
	plat := &fakePlatform{}
	plat.add(appFound1, "Found One", "refresh@@@1", 18)
	plat.add(appFound2, "Found Two", "refresh@@@2", 17)
	plat.add(appFound3, "Found Three", "refresh@@@3", 18)
	rt := f.store.RefreshTokens(nil)
	b := f.bot(func(o *bot.Options) {
		o.Platform = &bot.PlatformOptions{WeChat: plat, RefreshTokens: rt}
	})
	ctx := context.Background()

	d, err := b.Discover(ctx)
	if err != nil || len(d.Apps) != 3 || len(d.Added) != 3 || d.NoTesterSet != 1 || d.RefreshedTokens != 3 {
		t.Fatalf("first discovery %+v, %v: want 3 apps added, 1 without set 18, 3 tokens kept", d, err)
	}
	if tok, err := rt.RefreshToken(ctx, appFound2); err != nil || tok != "refresh@@@2" {
		t.Errorf("refresh token of %s = %q, %v", appFound2, tok, err)
	}
	if dms := f.msgr.dmsTo("UADMIN"); len(dms) != 1 || !strings.Contains(dms[0], "3 Mini Program") {
		t.Errorf("admins told %q of the first discovery; want one summary", dms)
	}

	// Nothing new: nobody is told again.
	f.clock.Add(time.Hour) // each discovery later than the last
	if _, err := b.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.msgr.dmsTo("UADMIN")); n != 1 {
		t.Errorf("admins told %d times after a discovery that found nothing new, want still once", n)
	}

	// A transient failure for one app: that app is kept as it was, the others go on.
	f.clock.Add(time.Hour)
	plat.errs[appFound3] = &wechat.TransportError{Kind: wechat.ErrTimeout, Path: "/cgi-bin/component/api_get_authorizer_info"}
	if d, err := b.Discover(ctx); err != nil || d.Failed != 1 || len(d.Apps) != 2 || len(d.Revoked) != 0 {
		t.Fatalf("discovery with an app timing out: %+v, %v; want it kept, not revoked", d, err)
	}
	apps, _ := f.store.PlatformApps(ctx)
	for _, a := range apps {
		if a.Revoked {
			t.Errorf("%s marked revoked after a failed discovery", a.AppID)
		}
	}

	// Revoked since the list was read (61003): left out and marked revoked; the others go on.
	f.clock.Add(time.Hour)
	plat.errs[appFound3] = &wechat.Error{Code: 61003, Msg: "component is not authorized by this account"}
	if d, err = b.Discover(ctx); err != nil || len(d.Apps) != 2 || len(d.Revoked) != 1 || d.Revoked[0].AppID != appFound3 {
		t.Fatalf("discovery with a revoked app %+v, %v: want 2 apps, %s revoked", d, err, appFound3)
	}
	apps, _ = f.store.PlatformApps(ctx)
	if len(apps) != 3 || !apps[2].Revoked || apps[0].Revoked {
		t.Errorf("stored apps %+v: want %s revoked, the others not", apps, appFound3)
	}
	if dms := f.msgr.dmsTo("UADMIN"); len(dms) != 2 || !strings.Contains(dms[1], "revoked") || !strings.Contains(dms[1], "Found Three") {
		t.Errorf("admins told %q; want a second notice naming the revoked app", dms)
	}

	// A token a fetch rotated while discovery asked is kept, not replaced by the older one.
	f.clock.Add(time.Hour)
	plat.add(appFound1, "Found One", "refresh@@@1-reissued", 18)
	plat.during = func(appid string) {
		if appid == appFound1 {
			rt.SaveRefreshToken(ctx, appFound1, "refresh@@@1-rotated")
		}
	}
	if _, err := b.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	if tok, _ := rt.RefreshToken(ctx, appFound1); tok != "refresh@@@1-rotated" {
		t.Errorf("refresh token %q; want the one rotated during discovery", tok)
	}
}

func TestBindRefusedWherePlatformCannotManageTesters(t *testing.T) {
	f := newFixture(t)
	plat := &fakePlatform{}
	plat.add(appFound2, "Found Two", "refresh@@@2", 17)
	policy := &bot.Policy{Admins: []string{"UADMIN"}, Apps: []bot.App{{ID: appFound2, Name: "Found Two", Aliases: []string{"two"}, Binders: []string{"UALICE"}}}}
	b := f.bot(func(o *bot.Options) {
		o.Policy = policy
		o.Platform = &bot.PlatformOptions{WeChat: plat, RefreshTokens: f.store.RefreshTokens(nil)}
	})
	if _, err := b.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	conv := &recConv{t: t}
	b.Handle(context.Background(), bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: "two tester_one"}, conv)
	if p := conv.privates; len(p) != 1 || !strings.Contains(p[0], "development management") || !strings.Contains(p[0], "authorize the platform again") {
		t.Fatalf("answers %q; want one private refusal saying what the app's admin must do", p)
	}
	if n := f.fake.Calls("/wxa/bind_tester"); n != 0 {
		t.Errorf("bind_tester called %d times", n)
	}
	evs, _ := f.store.Events(context.Background(), bot.AuditFilter{Limit: 5})
	if len(evs) == 0 || evs[0].Kind != bot.EventDenied || !strings.Contains(evs[0].Detail, "platform") {
		t.Errorf("audit %+v: want the refusal recorded", evs)
	}
}

// An approval clicked after the app revoked the platform binds nothing: the
// requester hears why, in their thread.
func TestApprovalAfterRevocationBindsNothing(t *testing.T) {
	f, b, req, value := pendingApproval(t)
	revoked := *f.policy
	revoked.Apps = slices.Clone(f.policy.Apps)
	revoked.Apps[0].Platform = &bot.PlatformApp{AppID: revoked.Apps[0].ID, PermissionSets: []int{18}, MiniProgram: true, Revoked: true}
	b.SetPolicy(&revoked)
	if _, err := click(t, b, "UAPP1", bot.ActionApprove, value); err != nil {
		t.Fatalf("Click: %v", err)
	}
	if n := f.fake.Calls(bindPath); n != 0 {
		t.Errorf("bind_tester called %d times for a revoked app", n)
	}
	replies := strings.Join(f.msgr.in(req.ref(0), "reply"), "\n")
	wantContains(t, "thread", replies, "revoked our WeChat third-party platform")
	if ups := f.msgr.in(req.ref(0), "update"); len(ups) != 1 || !strings.HasPrefix(ups[0], "❌") {
		t.Errorf("status updates %q, want one ❌", ups)
	}
}

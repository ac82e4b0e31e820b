package wechat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const platformID = "wxplatform0000001"

// platformSetup starts a fake WeChat with a third-party platform and returns the
// platform's token fetcher over a refresh-token store that starts empty.
func platformSetup(t *testing.T) (*wechattest.Server, *wechat.ComponentTokens, *wechat.MemoryRefreshTokens) {
	t.Helper()
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	fake.SetComponent(platformID, "component-secret", "ticket@@@1")
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond, Timeout: 2 * time.Second})
	store := wechat.NewMemoryRefreshTokens(nil)
	return fake, wechat.NewComponentTokens(tr, platformID, "component-secret", wechat.TicketString("ticket@@@1"), store), store
}

func listRequests(fake *wechattest.Server) []map[string]any {
	var out []map[string]any
	for _, r := range fake.Requests() {
		if r.Path != "/cgi-bin/component/api_get_authorizer_list" {
			continue
		}
		var m map[string]any
		json.Unmarshal(r.Body, &m)
		m["cat"] = r.Query.Get("component_access_token")
		out = append(out, m)
	}
	return out
}

// 120 authorized apps arrive in three pages of 50, each with its refresh token.
func TestAuthorizersAllPages(t *testing.T) {
	fake, comp, _ := platformSetup(t)
	want := map[string]string{}
	for i := range 120 {
		id := fmt.Sprintf("wxapp%012d", i)
		want[id] = fake.AddAuthorizer(id, "App "+id, []int{17, 18})
	}
	fake.AddAuthorizer("wxapp000000000007", "App 7 again", []int{18}) // a re-authorization keeps its place
	want["wxapp000000000007"] = fake.AuthorizerRefreshToken("wxapp000000000007")

	got, err := comp.Authorizers(context.Background(), wechat.PageSize(50))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 {
		t.Fatalf("%d authorizers, want 120", len(got))
	}
	for i, a := range got {
		if a.AppID != fmt.Sprintf("wxapp%012d", i) || a.RefreshToken != want[a.AppID] || a.AuthTime.IsZero() {
			t.Fatalf("authorizer %d = %+v, want refresh token %q", i, a, want[a.AppID])
		}
	}
	pages := listRequests(fake)
	if len(pages) != 3 {
		t.Fatalf("%d list requests, want 3", len(pages))
	}
	for i, p := range pages {
		if p["component_appid"] != platformID || p["offset"] != float64(50*i) || p["count"] != float64(50) || p["cat"] == "" {
			t.Errorf("page %d request %v", i, p)
		}
	}
	if n := fake.Calls("/cgi-bin/component/api_component_token"); n != 1 {
		t.Errorf("component token fetched %d times, want once for all pages", n)
	}

	fake.RemoveAuthorizer("wxapp000000000003")
	got, err = comp.Authorizers(context.Background()) // one page of 500
	if err != nil || len(got) != 119 || slices.ContainsFunc(got, func(a wechat.Authorizer) bool { return a.AppID == "wxapp000000000003" }) {
		t.Fatalf("after removal: %d authorizers, %v", len(got), err)
	}
	if n := len(listRequests(fake)); n != 4 {
		t.Errorf("%d list requests in all, want 4", n)
	}
}

// A rejected component_access_token is replaced once; no authorizers is an empty list.
func TestAuthorizersRefreshComponentTokenOnce(t *testing.T) {
	fake, comp, _ := platformSetup(t)
	ctx := context.Background()
	if got, err := comp.Authorizers(ctx); err != nil || len(got) != 0 {
		t.Fatalf("no authorizers: %v, %v", got, err)
	}
	fake.ExpireTokens(platformID)
	fake.AddAuthorizer("wxapp000000000001", "One", []int{18})
	if got, err := comp.Authorizers(ctx); err != nil || len(got) != 1 {
		t.Fatalf("after expiry: %v, %v", got, err)
	}
	if n := fake.Calls("/cgi-bin/component/api_component_token"); n != 2 {
		t.Errorf("component token fetched %d times, want 2", n)
	}
	fake.FailNext("/cgi-bin/component/api_get_authorizer_list", 5, 40001)
	if _, err := comp.Authorizers(ctx); !isCode(err, 40001) {
		t.Fatalf("token rejected twice: %v", err)
	}
	if n := fake.Calls("/cgi-bin/component/api_get_authorizer_list"); n != 5 {
		t.Errorf("list called %d times in all, want 5 (1, then 2 around a refresh, then 2: one refresh, no more)", n)
	}
}

// Info tells Mini Programs from official accounts and whether set 18 is granted; a
// refresh token in the answer is handed back, not stored.
func TestAuthorizerInfo(t *testing.T) {
	fake, comp, store := platformSetup(t)
	ctx := context.Background()
	full := fake.AddAuthorizer("wxfull00000000001", "Full Shop", []int{17, 18, 19})
	fake.AddAuthorizer("wxnodev0000000001", "No Dev", []int{17, 19})
	fake.AddOfficialAccount("wxoffice000000001", "Some Account", []int{1, 2})

	info, err := comp.AuthorizerInfo(ctx, "wxfull00000000001")
	if err != nil {
		t.Fatal(err)
	}
	if info.AppID != "wxfull00000000001" || info.Nickname != "Full Shop" || info.PrincipalName == "" ||
		info.RefreshToken != full || !info.MiniProgram || !info.CanManageTesters() || !slices.Equal(info.PermissionSets, []int{17, 18, 19}) {
		t.Fatalf("info = %+v", info)
	}
	if _, err := store.RefreshToken(ctx, "wxfull00000000001"); err == nil {
		t.Error("AuthorizerInfo saved the refresh token")
	}
	if info, err := comp.AuthorizerInfo(ctx, "wxnodev0000000001"); err != nil || info.CanManageTesters() || !info.MiniProgram {
		t.Fatalf("without set 18: %+v, %v", info, err)
	}
	if info, err := comp.AuthorizerInfo(ctx, "wxoffice000000001"); err != nil || info.MiniProgram || info.CanManageTesters() {
		t.Fatalf("official account: %+v, %v", info, err)
	}
	fake.RemoveAuthorizer("wxnodev0000000001")
	if _, err := comp.AuthorizerInfo(ctx, "wxnodev0000000001"); !isCode(err, 61003) {
		t.Fatalf("removed authorizer: %v", err)
	}
}

// A discovered authorizer works with the existing token flow: its listed refresh token
// gets an authorizer_access_token that binds testers, while set 18 is granted.
func TestDiscoveredAuthorizerBinds(t *testing.T) {
	fake, comp, store := platformSetup(t)
	ctx := context.Background()
	fake.SetRotateRefreshTokens(true)
	fake.AddAuthorizer("wxdev000000000001", "Dev", []int{18})
	fake.AddAuthorizer("wxnodev0000000001", "No Dev", []int{17})
	list, err := comp.Authorizers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		store.SaveRefreshToken(ctx, a.AppID, a.RefreshToken)
	}
	tr := wechat.NewTransport(wechat.Config{BaseURL: fake.URL, Backoff: time.Millisecond})
	c := wechat.NewClient(tr, wechat.NewTokenCache(comp, 0))
	if _, err := c.BindTester(ctx, "wxdev000000000001", "tester_a"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if fake.UserStr("wxdev000000000001", "tester_a") == "" {
		t.Error("not bound")
	}
	if kept, _ := store.RefreshToken(ctx, "wxdev000000000001"); kept != fake.AuthorizerRefreshToken("wxdev000000000001") || kept == list[0].RefreshToken {
		t.Errorf("rotated refresh token not kept: %q", kept)
	}
	if _, err := c.BindTester(ctx, "wxnodev0000000001", "tester_a"); !isCode(err, 61007) {
		t.Fatalf("bind without set 18: %v, want 61007", err)
	}
	fake.RemoveAuthorizer("wxdev000000000001")
	if _, err := c.BindTester(ctx, "wxdev000000000001", "tester_b"); !isCode(err, 61003) {
		t.Fatalf("bind after removal: %v, want 61003", err)
	}
}

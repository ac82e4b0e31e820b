package bot_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

const rulesPolicy = `
admins: [UADMIN]
admin_channel: CADMINS
defaults:
  binders: [SQA]
  default_duration: 3d
groups:
  - match: {names: ["Shop*"]}
    requesters: [SCLIENTS]
    require_approval: true
  - match: {appids: [wx3333333333333333]}
    binders: [UBLOGGER]
    max_duration: 2w
apps:
  - appid: wx1111111111111111
    aliases: [portal]
    binders: [UPORTAL]
    slots: 30
`

func TestPolicyRulesForManyApps(t *testing.T) {
	p, err := bot.LoadPolicyFile(writePolicy(t, rulesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.AdminChannel != "CADMINS" {
		t.Errorf("admin channel %q", p.AdminChannel)
	}
	portal, _ := p.App("portal")
	if portal == nil || !slices.Equal(portal.Binders, []string{"UPORTAL"}) || portal.DefaultDuration != 72*time.Hour || portal.Slots != 30 {
		t.Fatalf("listed app %+v: want its own binders and slots over the defaults' 3d", portal)
	}
	seen := time.Now()
	p = p.WithPlatformApps([]bot.PlatformApp{
		{AppID: "wx1111111111111111", Nickname: "Client Portal", PermissionSets: []int{18}, MiniProgram: true, SeenAt: seen},
		{AppID: "wx2222222222222222", Nickname: "Shop Mall", PermissionSets: []int{18}, MiniProgram: true, SeenAt: seen},
		{AppID: "wx3333333333333333", Nickname: "Blog", PermissionSets: []int{1, 2}, MiniProgram: true, SeenAt: seen},
		{AppID: "wx4444444444444444", Nickname: "官方账号", MiniProgram: false, SeenAt: seen},
		{AppID: "wx5555555555555555", Nickname: "点餐小程序", PermissionSets: []int{18}, MiniProgram: true, SeenAt: seen},
		{AppID: "wx6666666666666666", Nickname: "Portal", PermissionSets: []int{18}, MiniProgram: true, SeenAt: seen},
	})

	portal, _ = p.App("portal")
	if portal.ID != "wx1111111111111111" || portal.Name != "Client Portal" || portal.Platform == nil || !portal.Platform.CanManageTesters() {
		t.Errorf("listed app after discovery %+v: want WeChat's name and permissions, its alias kept", portal)
	}
	shop, ok := p.App("shop-mall")
	if !ok || shop.Name != "Shop Mall" || !slices.Equal(shop.Binders, []string{"SQA"}) || !slices.Equal(shop.Requesters, []string{"SCLIENTS"}) ||
		!shop.RequireApproval || shop.DefaultDuration != 72*time.Hour {
		t.Errorf("discovered Shop Mall %+v: want the defaults, then the Shop* group (alias from the nickname)", shop)
	}
	blog, ok := p.App("wx3333333333333333")
	if !ok || !slices.Equal(blog.Binders, []string{"UBLOGGER"}) || blog.MaxDuration != 14*24*time.Hour || blog.Platform.CanManageTesters() {
		t.Errorf("discovered Blog %+v: want the appid group's binders and 2w, and no permission set 18", blog)
	}
	if _, ok := p.App("wx4444444444444444"); ok {
		t.Error("an official account (no testers) became an app")
	}
	food, ok := p.App("wx5555555555555555")
	if !ok || food.Name != "点餐小程序" || len(food.Aliases) != 0 {
		t.Errorf("discovered Chinese-named app %+v: want its name and no alias", food)
	}
	if other, ok := p.App("wx6666666666666666"); !ok || len(other.Aliases) != 0 {
		t.Errorf("app nicknamed Portal %+v: the alias portal is taken, it must not get it", other)
	}
	if got, _ := p.App("portal"); got.ID != "wx1111111111111111" {
		t.Errorf("portal now means %s", got.ID)
	}

	// A rediscovery rebuilds from the file, not from the last result.
	p = p.WithPlatformApps(nil)
	if _, ok := p.App("shop-mall"); ok {
		t.Error("an app discovery no longer lists stayed")
	}
	if portal, _ := p.App("portal"); portal == nil || portal.Platform != nil {
		t.Errorf("listed app without platform facts %+v", portal)
	}
}

func TestPolicyRulesProblems(t *testing.T) {
	_, err := bot.LoadPolicyFile(writePolicy(t, `
admins: [UADMIN]
defaults:
  binders: [alice]
  default_duration: 3 days
groups:
  - binders: [UBOB]
  - match: {names: ["[shop"]}
`))
	for _, want := range []string{`defaults: binders: "alice"`, `defaults: default_duration: "3 days"`, "groups[0]: match: matches nothing", `groups[1]: match.names: "[shop"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to say %s", err, want)
		}
	}
	// Rules without apps are a policy for discovery: no "no Mini Program" error.
	if _, err := bot.LoadPolicyFile(writePolicy(t, "admins: [UADMIN]\ndefaults:\n  binders: [SQA]\n")); err != nil {
		t.Errorf("defaults only: %v", err)
	}
}

// The example policy the README points to stays valid.
func TestPolicyExampleLoads(t *testing.T) {
	p, err := bot.LoadPolicyFile("../policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.AdminChannel == "" || len(p.Apps) == 0 {
		t.Errorf("example policy %+v: want an admin channel and apps", p)
	}
}

func TestNicknameAliasesNeverPointAtTheWrongApp(t *testing.T) {
	p := bot.PolicyForDiscovery([]string{"UADMIN"}).WithPlatformApps([]bot.PlatformApp{
		{AppID: "wx1111111111111111", Nickname: "Shop", PermissionSets: []int{18}, MiniProgram: true, Revoked: true},
		{AppID: "wx2222222222222222", Nickname: "Shop", PermissionSets: []int{18}, MiniProgram: true},
		{AppID: "wx3333333333333333", Nickname: "Blog", PermissionSets: []int{18}, MiniProgram: true},
		{AppID: "wx4444444444444444", Nickname: "blog", PermissionSets: []int{18}, MiniProgram: true},
	})
	if a, ok := p.App("shop"); !ok || a.ID != "wx2222222222222222" {
		t.Errorf("shop = %+v; want the live Shop, not the revoked one", a)
	}
	if a, ok := p.App("blog"); ok {
		t.Errorf("blog = %s; two live apps make that alias, so neither may have it", a.ID)
	}
	if err := bot.PolicyForDiscovery([]string{"alice"}).Validate(); err == nil {
		t.Error("an admin that is not a Slack ID was accepted")
	}
}

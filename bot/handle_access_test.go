package bot_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bindtester/bindtester/bot"
)

// A denied request gets one private answer, posts nothing in the channel and
// never reaches WeChat (not even for a token).
func TestHandleDenials(t *testing.T) {
	for _, c := range []struct {
		name          string
		user, channel string
		text          string
		locale        string
		groupsFail    bool
		want          []string
		notWant       []string
	}{
		{
			name: "not a binder", user: "UDAVE", channel: "CSHOP", text: "shop " + tester,
			want:    []string{"You may not bind testers to *Shop*", "Ask an admin to add you: @UADMIN"},
			notWant: []string{testerMasked, "Games"},
		},
		{
			name: "not a binder, by appid", user: "UBOB", channel: "CGAMES", text: appShop + " " + tester,
			want: []string{"You may not bind testers to *Shop*", "@UADMIN"},
		},
		{
			name: "not a binder, Chinese", user: "UDAVE", channel: "CSHOP", text: "shop " + tester, locale: "zh-CN",
			want: []string{"你无权为 *Shop* 绑定体验者", "@UADMIN"},
		},
		{
			name: "app without binders is admin-only", user: "UALICE", channel: "CSHOP", text: appVault + " " + tester,
			want: []string{"*Vault* is open to admins only", "Ask an admin: @UADMIN"},
		},
		{
			name: "app without binders, Chinese", user: "UALICE", channel: "CSHOP", text: appVault + " " + tester, locale: "zh",
			want: []string{"*Vault* 仅限管理员绑定", "@UADMIN"},
		},
		{
			name: "binder in the wrong channel", user: "UBOB", channel: "CRANDOM", text: "games " + tester,
			want: []string{"Testers for *Games* are bound in #CGAMES only"},
		},
		{
			name: "binder in a direct message to a channel-bound app", user: "UBOB", channel: "D0123", text: "games " + tester,
			want: []string{"#CGAMES"},
		},
		{
			name: "group lookup fails", user: "UCAROL", channel: "CSHOP", text: "shop " + tester, groupsFail: true,
			want: []string{"could not check your Slack user groups", "*Shop*", "try again"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if c.groupsFail {
				f.groups.setFail(errSlackDown)
			}
			conv, err := handle(t, f.bot(), bot.Request{UserID: c.user, ChannelID: c.channel, Text: c.text, Locale: c.locale})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(conv.privates) != 1 || len(conv.opens) != 0 || len(conv.replies) != 0 || len(conv.updates) != 0 {
				t.Fatalf("want exactly one private message and nothing else; got %v", conv)
			}
			wantContains(t, "denial", conv.privates[0], c.want...)
			wantNotContains(t, "denial", conv.privates[0], append(c.notWant, tester)...)
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("fake WeChat got %d requests (bind_tester %d), want none", n, f.fake.Calls(bindPath))
			}
		})
	}
}

func TestHandleAllowed(t *testing.T) {
	for _, c := range []struct {
		name          string
		user, channel string
		text          string
		app           string
	}{
		{name: "direct binder", user: "UALICE", channel: "CANY", text: "shop " + tester, app: appShop},
		{name: "binder in the app's channel", user: "UBOB", channel: "CGAMES", text: "games " + tester, app: appGames},
		{name: "binder through a user group", user: "UCAROL", channel: "CANY", text: "shop " + tester, app: appShop},
		{name: "admin outside the app's channel", user: "UADMIN", channel: "CRANDOM", text: "games " + tester, app: appGames},
		{name: "admin on an admin-only app", user: "UADMIN", channel: "D0123", text: appVault + " " + tester, app: appVault},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			conv, err := handle(t, f.bot(), bot.Request{UserID: c.user, ChannelID: c.channel, Text: c.text})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(conv.privates) != 0 || len(conv.opens) != 1 || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
				t.Fatalf("want a successful bind; got %v", conv)
			}
			wantContains(t, "status message", conv.opens[0], "@"+c.user)
			if f.fake.UserStr(c.app, tester) == "" {
				t.Errorf("%s is not bound to %s on the fake", tester, c.app)
			}
		})
	}
}

func TestHandleGroupLookupsAreCached(t *testing.T) {
	f := newFixture(t)
	b := f.bot(func(o *bot.Options) { o.Groups = bot.NewGroupCache(f.groups, time.Hour, 15*time.Minute) })
	for i, id := range []string{"carol_one", "carol_two"} {
		conv, err := handle(t, b, bot.Request{UserID: "UCAROL", ChannelID: "CSHOP", Text: "shop " + id})
		if err != nil || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
			t.Fatalf("request %d: %v, %v", i+1, err, conv)
		}
	}
	if n := f.groups.callCount("SQA"); n != 1 {
		t.Errorf("user group SQA looked up %d times for two requests, want 1 (cached)", n)
	}

	// Once cached, a Slack outage does not lock the group's members out.
	f.groups.setFail(errSlackDown)
	conv, err := handle(t, b, bot.Request{UserID: "UCAROL", ChannelID: "CSHOP", Text: "shop carol_three"})
	if err != nil || len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
		t.Fatalf("with Slack down and a warm cache: %v, %v", err, conv)
	}
}

// Permissions fail closed: while the lookup keeps failing, the last known
// members count for a bounded time after their normal expiry, then nobody
// in the group binds, and the answer says the check could not be made.
func TestHandleGroupLookupFailsClosed(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	c := bot.NewGroupCache(f.groups, time.Hour, 15*time.Minute)
	c.Now = func() time.Time { return now }
	var failures []bool
	c.OnFailure = func(_ string, stale bool, _ error) { failures = append(failures, stale) }
	b := f.bot(func(o *bot.Options) { o.Groups = c })
	bind := func(id string) *recConv {
		t.Helper()
		conv, err := handle(t, b, bot.Request{UserID: "UCAROL", ChannelID: "CSHOP", Text: "shop " + id})
		if err != nil {
			t.Fatal(err)
		}
		return conv
	}
	if conv := bind("carol_one"); len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
		t.Fatalf("member bind: %v", conv)
	}
	// Carol leaves the group during a Slack outage.
	f.groups.mu.Lock()
	f.groups.m["SQA"] = nil
	f.groups.mu.Unlock()
	f.groups.setFail(errSlackDown)

	now = now.Add(time.Hour + 10*time.Minute) // past the TTL, within the stale allowance
	if conv := bind("carol_two"); len(conv.updates) != 1 || !strings.HasPrefix(conv.updates[0], "✅") {
		t.Fatalf("within the stale allowance: %v", conv)
	}
	now = now.Add(10 * time.Minute) // past it
	conv := bind("carol_three")
	if len(conv.opens) != 0 || len(conv.privates) != 1 {
		t.Fatalf("past the stale allowance: want a private denial, got %v", conv)
	}
	wantContains(t, "denial", conv.privates[0], "could not check your Slack user groups")
	if f.fake.UserStr(appShop, "carol_three") != "" {
		t.Error("WeChat bound a tester whose group membership could not be checked")
	}
	if len(failures) != 2 || !failures[0] || failures[1] {
		t.Errorf("failures reported %v, want [stale, not stale]", failures)
	}
	if denied := f.eventsOf(t, bot.EventDenied); len(denied) != 1 || denied[0].Detail != "user group lookup failed" {
		t.Errorf("denied events %+v, want one: user group lookup failed", denied)
	}
}

func TestGroupCache(t *testing.T) {
	ctx := context.Background()
	t.Run("fresh entries are served from the cache", func(t *testing.T) {
		src := newMapGroups(map[string][]string{"SQA": {"U1", "U2"}, "SDEV": {"U3"}})
		c := bot.NewGroupCache(src, time.Hour, 15*time.Minute)
		for range 3 {
			for id, want := range map[string]string{"SQA": "U1 U2", "SDEV": "U3"} {
				got, err := c.Members(ctx, id)
				if err != nil || strings.Join(got, " ") != want {
					t.Fatalf("Members(%s) = %v, %v; want %s", id, got, err, want)
				}
			}
		}
		if src.callCount("SQA") != 1 || src.callCount("SDEV") != 1 {
			t.Errorf("source called SQA %d, SDEV %d times; want once each", src.callCount("SQA"), src.callCount("SDEV"))
		}
	})
	t.Run("stale entries are refreshed", func(t *testing.T) {
		src := newMapGroups(map[string][]string{"SQA": {"U1"}})
		c := bot.NewGroupCache(src, 0, 15*time.Minute) // everything is stale at once
		c.Members(ctx, "SQA")
		src.mu.Lock()
		src.m["SQA"] = []string{"U1", "U9"}
		src.mu.Unlock()
		got, err := c.Members(ctx, "SQA")
		if err != nil || strings.Join(got, " ") != "U1 U9" {
			t.Errorf("after a membership change: %v, %v; want U1 U9", got, err)
		}
		if n := src.callCount("SQA"); n != 2 {
			t.Errorf("source called %d times, want 2", n)
		}
	})
	t.Run("a failed refresh keeps the last known members for a while", func(t *testing.T) {
		src := newMapGroups(map[string][]string{"SQA": {"U1"}})
		c := bot.NewGroupCache(src, 0, 15*time.Minute)
		c.Members(ctx, "SQA")
		src.setFail(errSlackDown)
		got, err := c.Members(ctx, "SQA")
		if err != nil || strings.Join(got, " ") != "U1" {
			t.Errorf("got %v, %v; want the last known U1", got, err)
		}
	})
	t.Run("a failed first lookup is an error", func(t *testing.T) {
		src := newMapGroups(nil)
		src.setFail(errSlackDown)
		c := bot.NewGroupCache(src, time.Hour, 15*time.Minute)
		if got, err := c.Members(ctx, "SQA"); err == nil {
			t.Errorf("got %v, want an error", got)
		}
		// and it is not cached as "no members"
		src.setFail(nil)
		src.mu.Lock()
		src.m = map[string][]string{"SQA": {"U1"}}
		src.mu.Unlock()
		if got, err := c.Members(ctx, "SQA"); err != nil || len(got) != 1 {
			t.Errorf("after recovery: %v, %v", got, err)
		}
	})
}

// A command the bot cannot understand gets one private message naming the
// rule, and nothing reaches WeChat.
func TestHandleUsageErrors(t *testing.T) {
	for _, c := range []struct {
		name, text, locale string
		want               []string
	}{
		{name: "appid uppercase", text: "wx0123456789ABCDEF " + tester,
			want: []string{"`wx0123456789ABCDEF` is not a valid appid", "16 hexadecimal digits"}},
		{name: "appid too short", text: "wx0123 " + tester,
			want: []string{"`wx0123` is not a valid appid"}},
		{name: "WeChat ID with a dot", text: "shop bad.id",
			want: []string{"`bad[.]id` is not a valid WeChat ID", "6–20 characters", "starts with a letter"}},
		{name: "WeChat ID too short", text: appShop + " abc",
			want: []string{"`abc` is not a valid WeChat ID"}},
		{name: "phone number", text: "shop 13800138000",
			want: []string{"`13800138000` is not a valid WeChat ID", "not your nickname or phone number"}},
		{name: "extra words", text: "shop " + tester + " please now",
			want: []string{"Too many words: I did not expect `please now`", "/bindtester <app> <wechat-id>"}},
		{name: "unknown subcommand", text: "frobnicate",
			want: []string{"I don't know the command `frobnicate`", "`help`"}},
		{name: "unbind without arguments", text: "unbind",
			want: []string{"Unbind whom?", "/bindtester unbind <app> <wechat-id>"}},
		{name: "appid without WeChat ID", text: appShop,
			want: []string{"Which WeChat account?", "/bindtester " + appShop + " <wechat-id>"}},
		{name: "alias without WeChat ID", text: "shop",
			want: []string{"Which WeChat account?", "/bindtester shop <wechat-id>"}},
		{name: "not an app", text: "12345 " + tester,
			want: []string{"`12345` is not an appid or an app name"}},
		{name: "Chinese", text: "shop bad.id", locale: "zh-CN",
			want: []string{"`bad[.]id` 不是有效的微信号", "/bindtester help"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", ChannelID: "CSHOP", Text: c.text, Locale: c.locale})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want exactly one private message; got %v", conv)
			}
			wantContains(t, "usage message", conv.privates[0], append(c.want, "/bindtester help")...)
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("fake WeChat got %d requests, want none", n)
			}
		})
	}
}

// Slack markup typed by a user comes back escaped, so nobody can ping a channel
// through the bot.
func TestHandleEscapesUserInput(t *testing.T) {
	for _, c := range []struct {
		name, user, text string
		want             []string
	}{
		{name: "channel ping as WeChat ID", text: "shop <!channel>", want: []string{"`&lt;!channel&gt;`"}},
		{name: "user mention as app", text: "<@U123> " + tester, want: []string{"`&lt;@U123&gt;`"}},
		{name: "pings as extra words", text: "shop " + tester + " <!channel> <@U123>", want: []string{"`&lt;!channel&gt; &lt;@U123&gt;`"}},
		{name: "pings after help", text: "help <!here|here> <@U123>", want: []string{"&lt;!here|here&gt; &lt;@U123&gt;"}},
		{name: "link as appid", text: "wx<https://evil.example|click> " + tester, want: []string{"`wx&lt;https[:]//evil[.]example|click&gt;`"}},
		{name: "ampersand", text: "shop a&b<c>", want: []string{"`a&amp;b&lt;c&gt;`"}},
		{name: "markup as app name, admin", user: "UADMIN", text: "<!channel>x " + tester, want: []string{"&lt;!channel&gt;x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			conv, err := handle(t, f.bot(), bot.Request{UserID: cmp.Or(c.user, "UALICE"), ChannelID: "CSHOP", Text: c.text})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			out := conv.rawAll() // what reaches Slack, escapes and all
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want one private message; got %v", conv)
			}
			wantContains(t, "answer", out, c.want...)
			wantNotContains(t, "answer", out, "<!channel>", "<@U123>", "<!here", "<https:", "a&b")
		})
	}
}

func TestHandleUnknownApp(t *testing.T) {
	for _, c := range []struct {
		name, user, text string
		want, notWant    []string
	}{
		{
			name: "unknown alias lists the user's apps", user: "UALICE", text: "nosuch " + tester,
			want:    []string{"I don't know a Mini Program called `nosuch`", "*Shop* (`shop`, `" + appShop + "`)"},
			notWant: []string{"Games", "Vault", appGames},
		},
		{
			name: "unknown alias, another user", user: "UBOB", text: "nosuch " + tester,
			want:    []string{"`nosuch`", "*Games* (`games`, `" + appGames + "`)"},
			notWant: []string{"Shop", appShop},
		},
		{
			name: "unknown alias, admin sees all", user: "UADMIN", text: "nosuch " + tester,
			want: []string{"`nosuch`", "*Shop*", "*Games*", "*Vault* (`" + appVault + "`)", "*Lab*"},
		},
		{
			name: "unknown appid", user: "UALICE", text: "wx00000000000000aa " + tester,
			want:    []string{"`wx00000000000000aa` is not a Mini Program this bot manages", "*Shop*"},
			notWant: []string{"Games"},
		},
		{
			name: "unknown alias, nobody", user: "UDAVE", text: "nosuch " + tester,
			want: []string{"`nosuch`", "You may not bind testers to any Mini Program yet", "@UADMIN"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			conv, err := handle(t, f.bot(), bot.Request{UserID: c.user, ChannelID: "CSHOP", Text: c.text})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want one private message; got %v", conv)
			}
			wantContains(t, "answer", conv.privates[0], c.want...)
			wantNotContains(t, "answer", conv.privates[0], append(c.notWant, tester)...)
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("fake WeChat got %d requests, want none", n)
			}
		})
	}
}

// help lists only what the reader may do.
func TestHandleHelp(t *testing.T) {
	shop := "*Shop* (`shop`, `" + appShop + "`)"
	games := "*Games* (`games`, `" + appGames + "`)"
	vault := "*Vault* (`" + appVault + "`)"
	lab := "*Lab* (`lab`, `" + appLab + "`)"
	for _, c := range []struct {
		name, user, text, locale string
		want, notWant            []string
	}{
		{
			name: "binder of one app", user: "UALICE", text: "help",
			want:    []string{"Mini Programs you may bind to: " + shop, "/bindtester shop my_wechat_id"},
			notWant: []string{"Games", "Vault", "Lab", "You are an admin"},
		},
		{
			name: "binder of another app", user: "UBOB", text: "",
			want:    []string{"Mini Programs you may bind to: " + games, "/bindtester games my_wechat_id"},
			notWant: []string{"Shop", "Vault", "You are an admin"},
		},
		{
			name: "binder through a user group", user: "UCAROL", text: "help",
			want:    []string{"Mini Programs you may bind to: " + shop},
			notWant: []string{"Games", "Vault"},
		},
		{
			name: "admin sees everything", user: "UADMIN", text: "HELP",
			want: []string{shop, games, vault, lab, "You are an admin: you may bind to every Mini Program, anywhere."},
		},
		{
			name: "nobody", user: "UDAVE", text: "help",
			want:    []string{"You may not bind testers to any Mini Program yet. Ask an admin: @UADMIN", "wx1234567890abcdef"},
			notWant: []string{"Shop", "Games", "You are an admin"},
		},
		{
			name: "Chinese", user: "UALICE", text: "help", locale: "zh-CN",
			want:    []string{"把微信号绑定为小程序的体验者", "你可以绑定的小程序：" + shop},
			notWant: []string{"Games", "Mini Programs you may bind to"},
		},
		{
			name: "Chinese admin", user: "UADMIN", text: "help", locale: "zh-CN",
			want: []string{shop, games, "你是管理员"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			conv, err := handle(t, f.bot(), bot.Request{UserID: c.user, ChannelID: "CSHOP", Text: c.text, Locale: c.locale})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(conv.privates) != 1 || len(conv.opens) != 0 {
				t.Fatalf("want one private message; got %v", conv)
			}
			wantContains(t, "help", conv.privates[0], c.want...)
			wantNotContains(t, "help", conv.privates[0], c.notWant...)
			if n := len(f.fake.Requests()); n != 0 {
				t.Errorf("help made %d WeChat requests", n)
			}
		})
	}
}

// Names from the policy are escaped too.
func TestHandleEscapesAppNames(t *testing.T) {
	f := newFixture(t)
	f.policy.Apps[0].Name = "Shop <!channel> & Co"
	conv, err := handle(t, f.bot(), bot.Request{UserID: "UALICE", Text: "shop " + tester})
	if err != nil {
		t.Fatal(err)
	}
	help, _ := handle(t, f.bot(), bot.Request{UserID: "UALICE", Text: "help"})
	for _, out := range []string{conv.rawAll(), help.rawAll()} { // what reaches Slack, escapes and all
		wantContains(t, "answer", out, "Shop &lt;!channel&gt; &amp; Co")
		// The QR code's file title is not mrkdwn and may carry the name as is;
		// everything else must not.
		wantNotContains(t, "answer", strings.ReplaceAll(out, "Trial version of Shop <!channel> & Co", ""), "<!channel>")
	}
}

// A failed user group lookup is reported as such, not as a refusal: for an
// admin-only app when admins are a group, and in help.
func TestGroupLookupFailureIsNotARefusal(t *testing.T) {
	f := newFixture(t)
	f.policy.Admins = []string{"SADMINS"}
	f.groups.setFail(errors.New("slack is down"))
	conv, _ := handle(t, f.bot(), bot.Request{UserID: "UADMIN2", ChannelID: "C1", Text: appVault + " " + tester})
	wantContains(t, "admin-only app", conv.all(), "could not check your Slack user groups")
	wantNotContains(t, "admin-only app", conv.all(), "open to admins only")
	conv, _ = handle(t, f.bot(), bot.Request{UserID: "UCAROL", ChannelID: "C1", Text: "help"})
	wantContains(t, "help", conv.all(), "could not check your Slack user groups")
	wantNotContains(t, "help", conv.all(), "You may not bind testers to any Mini Program yet")
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("fake WeChat got %d requests", n)
	}
}

// Without Slack (the console, the command line: Options.Groups is nil) user
// groups cannot be looked up: their members hear so rather than a refusal,
// and approval prompts go only to approvers who are people.
func TestNoGroupLookupsWithoutSlack(t *testing.T) {
	noGroups := func(o *bot.Options) { o.Groups = nil }
	t.Run("group member", func(t *testing.T) {
		f := newFixture(t)
		conv := run(t, f.bot(noGroups), "UCAROL", "shop "+tester)
		wantContains(t, "answer", conv.all(), "could not check your Slack user groups", "*Shop*")
		wantNotContains(t, "answer", conv.all(), "may not bind")
		if evs := f.events(t, bot.AuditFilter{}); len(evs) != 1 || evs[0].Kind != bot.EventDenied || evs[0].Detail != "user group lookup failed" {
			t.Errorf("audit %+v, want one lookup-failed denial", evs)
		}
		if n := len(f.fake.Requests()); n != 0 {
			t.Errorf("fake WeChat got %d requests", n)
		}
	})
	t.Run("direct binder", func(t *testing.T) {
		f := newFixture(t)
		mustBind(t, f, f.bot(noGroups), "UALICE", "shop "+tester, tester)
	})
	for _, c := range []struct {
		name      string
		approvers []string
		targets   []string
		reply     string
	}{
		{name: "approvers only a group", approvers: []string{"SLEADS"}, reply: "could not reach the approvers"},
		{name: "approvers a group and a person", approvers: []string{"SLEADS", "UAPP1"}, targets: []string{"UAPP1"}, reply: "I asked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.policy.Apps[0].Requesters = []string{"UREQ"}
			f.policy.Apps[0].Approvers = c.approvers
			conv := run(t, f.bot(noGroups), "UREQ", "shop "+tester)
			if len(conv.replies) != 1 {
				t.Fatalf("want one thread reply; got %v", conv)
			}
			wantContains(t, "thread reply", conv.replies[0], c.reply)
			var to []string
			for _, p := range f.msgr.sentPrompts() {
				to = append(to, p.To)
			}
			if !slices.Equal(to, c.targets) {
				t.Errorf("prompts went to %v, want %v", to, c.targets)
			}
		})
	}
}

// Concurrent cold lookups of one group share one call to the source.
func TestGroupCacheSharesColdLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &blockingGroups{release: make(chan struct{})}
		c := bot.NewGroupCache(src, time.Hour, 15*time.Minute)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if got, err := c.Members(context.Background(), "SQA"); err != nil || !slices.Equal(got, []string{"U1"}) {
					t.Errorf("Members = %v, %v; want [U1]", got, err)
				}
			})
		}
		synctest.Wait() // every caller is waiting: in the source, or for it
		close(src.release)
		wg.Wait()
		if n := src.calls.Load(); n != 1 {
			t.Errorf("20 concurrent cold lookups made %d source calls, want 1", n)
		}
	})
}

// blockingGroups counts its calls and answers [U1] once released.
type blockingGroups struct {
	calls   atomic.Int32
	release chan struct{}
}

func (g *blockingGroups) Members(ctx context.Context, _ string) ([]string, error) {
	g.calls.Add(1)
	select {
	case <-g.release:
		return []string{"U1"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

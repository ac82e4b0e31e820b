package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot/slackfake"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

const (
	testMsgToken = "pamtest"
	testAESKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testPushed   = "ticket@@@pushed0123456789"
)

// A third-party platform with only its credentials and a policy of
// defaults: the ticket arrives at the bot's own endpoint, discovery finds
// every authorized Mini Program, a tester binds to one nobody configured,
// an app without permission set 18 is refused without asking WeChat, an app
// without a trial version says so, and WeChat's notices add and revoke apps.
// Bad pushes are refused and counted.
func TestPlatformDiscoversItsAppsAndReceivesItsTicket(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("admins: [UADMIN]\nadmin_channel: C0ADMINS\ndefaults:\n  binders: ["+e2eBinder+"]\n  default_duration: 2d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, ops := freeAddr(t), freeAddr(t)
	r := startRun(t, map[string]string{
		"WECHAT_APP_SECRET": "", "BINDTESTER_APPID": "", "BINDTESTER_APP_NAME": "", "BINDTESTER_BINDERS": "", "BINDTESTER_ADMINS": "",
		"BINDTESTER_POLICY_FILE": policy, "WECHAT_COMPONENT_APPID": testComponentAppID, "WECHAT_COMPONENT_SECRET": testComponentSecret,
		"BINDTESTER_PLATFORM_LISTEN": listen, "WECHAT_COMPONENT_MSG_TOKEN": testMsgToken, "WECHAT_COMPONENT_AES_KEY": testAESKey,
		"BINDTESTER_SWEEP_INTERVAL": "200ms", "BINDTESTER_OPS_ADDR": ops, "LOG_LEVEL": "info",
	})
	r.connected(t)
	wx, sl := r.wechat, r.slack
	wx.SetComponent(testComponentAppID, testComponentSecret, testPushed)
	for i := range 120 {
		sets := []int{17, 18}
		if i == 7 {
			sets = []int{17} // no development management
		}
		wx.AddAuthorizer(platformAppID(i), fmt.Sprintf("Shop %03d", i), sets)
	}
	wx.AddOfficialAccount("wx00000000000000aa", "News", []int{1})
	ctx := context.Background()
	url := "http://" + listen + "/"
	push := func(n wechattest.PushNotice) (int, string) {
		t.Helper()
		resp, err := wechattest.Push(ctx, url, testMsgToken, testAESKey, testComponentAppID, n)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The ticket, pushed: the platform can fetch its token, and discovery runs.
	if code, body := push(wechattest.PushNotice{Ticket: testPushed}); code != 200 || body != "success" {
		t.Fatalf("ticket push answered %d %q, want 200 success", code, body)
	}
	if !eventually(20*time.Second, func() bool { return strings.Contains(r.stderr.String(), "authorizers=121") }) {
		t.Fatalf("discovery never found the 121 authorizers; log:\n%s", r.stderr.String())
	}

	answers := func(user string) []string {
		var out []string
		for _, m := range sl.Messages() {
			if m.Method == "response_url" && m.User == user {
				out = append(out, m.Text)
			}
		}
		return out
	}
	binds := func() int { return wx.Calls("/wxa/bind_tester") }

	// A discovered app, by the alias its nickname gave it, under the defaults.
	sl.SlashCommand(slackfake.SlashCommand{Text: "shop-003 tester_plat for 2d", UserID: e2eBinder, ChannelID: e2eChannel})
	if !eventually(20*time.Second, func() bool { return len(withText(sl.Messages(), "Done: `te***at`")) == 1 }) {
		t.Fatalf("bind to a discovered app not answered: %+v\nlog:\n%s", sl.Messages(), r.stderr.String())
	}
	if wx.UserStr(platformAppID(3), "tester_plat") == "" {
		t.Error("WeChat did not bind the tester to the discovered app")
	}

	// No permission set 18: refused up front, WeChat not asked.
	before := binds()
	sl.SlashCommand(slackfake.SlashCommand{Text: "shop-007 tester_noset", UserID: e2eBinder, ChannelID: e2eChannel})
	refused := func(text string) func() bool {
		return func() bool {
			for _, a := range answers(e2eBinder) {
				if strings.Contains(a, text) {
					return true
				}
			}
			return false
		}
	}
	if !eventually(10*time.Second, refused("did not grant *development management*")) {
		t.Fatalf("no refusal for the app without set 18: %v", answers(e2eBinder))
	}
	if n := binds() - before; n != 0 {
		t.Errorf("bind_tester called %d times for the app without set 18", n)
	}

	// No trial version: the tester is told, instead of a QR code that opens nothing.
	wx.SetTrialVersion(platformAppID(11), "", "")
	sl.SlashCommand(slackfake.SlashCommand{Text: "shop-011 tester_notrial", UserID: e2eBinder, ChannelID: e2eChannel})
	if !eventually(20*time.Second, func() bool { return len(withText(sl.Messages(), "No trial version of *Shop 011*")) == 1 }) {
		t.Fatalf("no 'no trial version' answer: %+v", sl.Messages())
	}
	_, _, files, _ := thread(sl.Messages(), "te***al")
	if len(files) != 0 {
		t.Errorf("a QR code was posted for an app without a trial version")
	}

	// Bad pushes: refused, counted, nothing changes.
	good := wechattest.PushNotice{InfoType: "unauthorized", AuthorizerAppID: platformAppID(20), Timestamp: fmt.Sprint(time.Now().Unix()), Nonce: "424242",
		Random: []byte("0123456789abcdef")} // fixed: sent twice, it is the very same push
	for _, c := range []struct {
		name string
		n    wechattest.PushNotice
		code int
	}{
		{"bad signature", func() wechattest.PushNotice { n := good; n.Signature = strings.Repeat("0", 40); return n }(), 401},
		{"stale", func() wechattest.PushNotice {
			n := good
			n.Timestamp = fmt.Sprint(time.Now().Add(-time.Hour).Unix())
			return n
		}(), 400},
		{"wrong AppId", func() wechattest.PushNotice {
			n := good
			n.InnerAppID, n.TrailerAppID = "wx9999999999999999", "wx9999999999999999"
			return n
		}(), 400},
	} {
		if code, _ := push(c.n); code != c.code {
			t.Errorf("%s: answered %d, want %d", c.name, code, c.code)
		}
	}
	sl.SlashCommand(slackfake.SlashCommand{Text: "shop-020 tester_before", UserID: e2eBinder, ChannelID: e2eChannel})
	if !eventually(20*time.Second, func() bool { return len(withText(sl.Messages(), "Done: `te***re`")) == 1 }) {
		t.Fatalf("after refused pushes, a bind to the app they named failed: %v", answers(e2eBinder))
	}

	// The real unauthorized notice: binds to the app stop, admins are told; its replay is refused.
	if code, _ := push(good); code != 200 {
		t.Fatalf("unauthorized notice answered %d", code)
	}
	if code, _ := push(good); code != 400 {
		t.Errorf("replayed notice answered %d, want 400", code)
	}
	if !eventually(10*time.Second, func() bool { return len(withText(sl.MessagesIn("C0ADMINS", ""), "revoked")) == 1 }) {
		t.Errorf("admins not told in their channel: %+v", sl.MessagesIn("C0ADMINS", ""))
	}
	before = binds()
	sl.SlashCommand(slackfake.SlashCommand{Text: "shop-020 tester_revoked", UserID: e2eBinder, ChannelID: e2eChannel})
	if !eventually(10*time.Second, refused("revoked our WeChat third-party platform")) {
		t.Fatalf("bind to a revoked app not refused: %v", answers(e2eBinder))
	}
	if n := binds() - before; n != 0 {
		t.Errorf("bind_tester called %d times for the revoked app", n)
	}

	// A newly authorized app, announced by a notice, is bindable at once.
	wx.AddAuthorizer("wx000000000000b000", "Fresh Shop", []int{18})
	if code, _ := push(wechattest.PushNotice{InfoType: "authorized", AuthorizerAppID: "wx000000000000b000", AuthorizationCode: "code@@@1"}); code != 200 {
		t.Fatalf("authorized notice answered %d", code)
	}
	sl.SlashCommand(slackfake.SlashCommand{Text: "fresh-shop tester_fresh", UserID: e2eBinder, ChannelID: e2eChannel})
	if !eventually(20*time.Second, func() bool { return len(withText(sl.Messages(), "Done: `te***sh`")) == 1 }) {
		t.Fatalf("bind to the newly authorized app not answered: %v", answers(e2eBinder))
	}

	// Admins list the apps a page at a time (120 would not fit one Slack message).
	sl.SlashCommand(slackfake.SlashCommand{Text: "apps page 5", UserID: "UADMIN", ChannelID: e2eChannel})
	if !eventually(10*time.Second, func() bool { return len(answers("UADMIN")) == 1 }) {
		t.Fatalf("apps not answered: %+v", sl.Messages())
	}
	if a := answers("UADMIN")[0]; !strings.Contains(a, "*121 Mini Program(s)*") || !strings.Contains(a, "Page 5 of 5") || strings.Count(a, "\n• ") != 21 {
		t.Errorf("apps page 5:\n%s\nwant the last 21 of 121 apps", a)
	}

	_, metrics := get(t, "http://"+ops+"/metrics")
	for _, want := range []string{`bindtester_platform_notices_total{result="bad_signature"} 1`, `bindtester_platform_notices_total{result="stale"} 1`,
		`bindtester_platform_notices_total{result="wrong_appid"} 1`, `bindtester_platform_notices_total{result="replay"} 1`,
		`bindtester_platform_notices_total{result="ok"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{testPushed, testAESKey, testComponentSecret} {
		if strings.Contains(r.stderr.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}

// platformAppID is the appid of the test's i-th discovered app, "Shop <i>".
func platformAppID(i int) string { return fmt.Sprintf("wx%016x", 0xa000+i) }

// From the command line, an admin sees every app discovery found with its
// effective policy, and check-config shows the same; a bind to a discovered
// app works there too.
func TestAppsCommandShowsTheEffectivePolicy(t *testing.T) {
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	fake.SetComponent(testComponentAppID, testComponentSecret, testVerifyTicket)
	fake.AddAuthorizer(platformAppID(1), "Shop One", []int{18})
	fake.AddAuthorizer(platformAppID(2), "Blog Two", []int{17})
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("admins: [UADMIN]\ndefaults:\n  binders: [S0QA]\ngroups:\n  - match: {names: [\"Blog*\"]}\n    requesters: [S0CLIENTS]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := merge(componentEnv(filepath.Join(dir, "bt.db")), map[string]string{"WECHAT_API_BASE": fake.URL, "BINDTESTER_APPID": "",
		"BINDTESTER_APP_NAME": "", "WECHAT_AUTHORIZER_REFRESH_TOKEN": "", "BINDTESTER_POLICY_FILE": policy})

	out, errOut, err := cli(t, e, "apps", "--refresh", "--admin")
	if err != nil {
		t.Fatalf("apps --refresh: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"2 authorizer(s); 2 newly authorized", "*Shop One*", "`shop-one`", "platform may manage testers",
		"*Blog Two*", "no development management", "ask: @S0CLIENTS (approved by"} {
		if !strings.Contains(out, want) {
			t.Errorf("apps output lacks %q:\n%s", want, out)
		}
	}
	out, errOut, err = cli(t, e, "bind", "--admin", "shop-one", "tester_cli")
	if err != nil || !strings.Contains(out, "Done:") {
		t.Fatalf("bind to a discovered app: %v\n%s\n%s", err, out, errOut)
	}
	var buf strings.Builder
	if err := run(context.Background(), []string{"check-config"}, env(merge(e, map[string]string{"SLACK_APP_TOKEN": e2eAppToken, "SLACK_BOT_TOKEN": e2eBotToken})), strings.NewReader(""), &buf, &buf); err != nil {
		t.Fatalf("check-config: %v\n%s", err, buf.String())
	}
	for _, want := range []string{platformAppID(1) + ` "Shop One" [platform: testers ok]: bind: S0QA`,
		platformAppID(2) + ` "Blog Two" [no permission set 18: binds refused]: bind: S0QA; ask: S0CLIENTS`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("check-config lacks %q:\n%s", want, buf.String())
		}
	}
}

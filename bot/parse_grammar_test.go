package bot_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/bot"
)

func TestParseGrammar(t *testing.T) {
	const appid = "wx1234567890abcdef"
	help := bot.Command{Verb: bot.VerbHelp}
	bind := func(app, id string) bot.Command { return bot.Command{Verb: bot.VerbBind, App: app, WechatID: id} }
	for _, c := range []struct {
		name    string
		text    string
		want    bot.Command // when wantKey is ""
		wantKey string
		wantArg string
	}{
		// help
		{name: "empty", text: "", want: help},
		{name: "blank", text: " \t\n ", want: help},
		{name: "help", text: "help", want: help},
		{name: "help any case and spaces", text: "  HeLp  ", want: help},
		{name: "help with extra words", text: "help me please", wantKey: "usage.extra", wantArg: "me please"},

		// bind
		{name: "appid and id", text: appid + " valid_id", want: bind(appid, "valid_id")},
		{name: "alias and id", text: "shop valid_id", want: bind("shop", "valid_id")},
		{name: "surrounding whitespace", text: "\t" + appid + "   valid_id \n", want: bind(appid, "valid_id")},
		{name: "id 6 chars", text: appid + " abcdef", want: bind(appid, "abcdef")},
		{name: "id 20 chars", text: appid + " a" + strings.Repeat("b", 19), want: bind(appid, "a"+strings.Repeat("b", 19))},
		{name: "wxid id", text: appid + " wxid_abc123def456", want: bind(appid, "wxid_abc123def456")},
		{name: "id with dash", text: appid + " my-wechat-id", want: bind(appid, "my-wechat-id")},
		{name: "id mixed case digits", text: appid + " Tester_2024", want: bind(appid, "Tester_2024")},

		// appid shape
		{name: "appid 15 hex", text: "wx1234567890abcde valid_id", wantKey: "usage.appid", wantArg: "wx1234567890abcde"},
		{name: "appid 17 hex", text: "wx1234567890abcdef0 valid_id", wantKey: "usage.appid", wantArg: "wx1234567890abcdef0"},
		{name: "appid uppercase hex", text: "wx1234567890ABCDEF valid_id", wantKey: "usage.appid", wantArg: "wx1234567890ABCDEF"},
		{name: "appid uppercase WX", text: "WX1234567890abcdef valid_id", wantKey: "usage.appid", wantArg: "WX1234567890abcdef"},
		{name: "appid non-hex", text: "wx1234567890abcdeg valid_id", wantKey: "usage.appid", wantArg: "wx1234567890abcdeg"},
		{name: "appid alone bad", text: "wx12", wantKey: "usage.appid", wantArg: "wx12"},

		// WeChat ID shape
		{name: "id 5 chars", text: appid + " abcde", wantKey: "usage.wechatid", wantArg: "abcde"},
		{name: "id 21 chars", text: appid + " a" + strings.Repeat("b", 20), wantKey: "usage.wechatid", wantArg: "a" + strings.Repeat("b", 20)},
		{name: "id starts with digit", text: appid + " 1abcdef", wantKey: "usage.wechatid", wantArg: "1abcdef"},
		{name: "id starts with underscore", text: appid + " _abcdef", wantKey: "usage.wechatid", wantArg: "_abcdef"},
		{name: "id starts with dash", text: appid + " -abcdef", wantKey: "usage.wechatid", wantArg: "-abcdef"},
		{name: "id with dot", text: appid + " abc.def", wantKey: "usage.wechatid", wantArg: "abc.def"},
		{name: "id with at", text: appid + " abc@def.com", wantKey: "usage.wechatid", wantArg: "abc@def.com"},
		{name: "id in Chinese", text: appid + " 微信号码用户名", wantKey: "usage.wechatid", wantArg: "微信号码用户名"},
		{name: "id phone number", text: appid + " 13800138000", wantKey: "usage.wechatid", wantArg: "13800138000"},
		{name: "id is channel mention", text: appid + " <!channel>", wantKey: "usage.wechatid", wantArg: "<!channel>"},
		{name: "id is user mention", text: appid + " <@U123>", wantKey: "usage.wechatid", wantArg: "<@U123>"},

		// word count and unknown words
		{name: "extra words", text: appid + " valid_id and more", wantKey: "usage.extra", wantArg: "and more"},
		// "<app> <id> for <duration>" may have four words, so the WeChat ID is checked before the word count.
		{name: "extra words with bad id", text: appid + " x y", wantKey: "usage.wechatid", wantArg: "x"},
		{name: "unknown single word", text: "frobnicate", wantKey: "usage.unknown_subcommand", wantArg: "frobnicate"},
		{name: "unbind is a verb now", text: "unbind", wantKey: "usage.unbind", wantArg: ""},
		{name: "appid alone", text: appid, wantKey: "usage.missing_wechatid", wantArg: appid},
		{name: "first word not an app", text: "<!channel> valid_id", wantKey: "usage.app", wantArg: "<!channel>"},
		{name: "first word a number", text: "12345 valid_id", wantKey: "usage.app", wantArg: "12345"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := bot.Parse(c.text)
			if c.wantKey == "" {
				if err != nil {
					t.Fatalf("Parse(%q) error %v, want %+v", c.text, err, c.want)
				}
				if got != c.want {
					t.Fatalf("Parse(%q) = %+v, want %+v", c.text, got, c.want)
				}
				return
			}
			var ue *bot.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want usage error %s", c.text, got, err, c.wantKey)
			}
			if ue.Key != c.wantKey || ue.Arg != c.wantArg {
				t.Fatalf("Parse(%q): usage error %s %q, want %s %q", c.text, ue.Key, ue.Arg, c.wantKey, c.wantArg)
			}
			if got.Verb == bot.VerbBind {
				t.Errorf("Parse(%q) returned a bind command alongside the error: %+v", c.text, got)
			}
		})
	}
}

// IsAppID and IsWechatID tell adapters and the policy loader the same shapes
// Parse accepts.
func TestIsAppIDAndIsWechatID(t *testing.T) {
	for _, c := range []struct {
		s           string
		appid, wxid bool
	}{
		{"wx1234567890abcdef", true, true},
		{"wx1234567890ABCDEF", false, true},
		{"wxid_abc123def456", false, true},
		{"abcdef", false, true},
		{"abcde", false, false},
		{"a1234567890123456789", false, true},
		{"a12345678901234567890", false, false},
		{"9abcdef", false, false},
		{"", false, false},
	} {
		if got := bot.IsAppID(c.s); got != c.appid {
			t.Errorf("IsAppID(%q) = %v, want %v", c.s, got, c.appid)
		}
		if got := bot.IsWechatID(c.s); got != c.wxid {
			t.Errorf("IsWechatID(%q) = %v, want %v", c.s, got, c.wxid)
		}
	}
}
